-- The recipe app's top queries, as its request handlers send them.
-- Each is written for an index of the 2025-01-15 batch (named below) and, before the
-- batch, falls back to a sequential scan or a sort. Parameters come from
-- sample_app.query_params(name, i, scale).

-- name: recipe_list
-- The recipe list page, newest edits first (idx_recipe_list_covering).
SELECT "id", "name", "sellingPrice", "categoryId", "updatedAt"
FROM "Recipe"
WHERE "companyId" = %(company_id)s
ORDER BY "updatedAt" DESC
LIMIT %(limit)s OFFSET %(offset)s;

-- name: recipe_search
-- The search box, across all companies' shared recipe book
-- (idx_recipe_name_trgm, idx_recipe_description_trgm, idx_recipe_method_trgm).
SELECT "id", "companyId", "name", "description"
FROM "Recipe"
WHERE "name" ILIKE %(pattern)s
   OR "description" ILIKE %(pattern)s
   OR "method" ILIKE %(pattern)s
ORDER BY "name", "id"
LIMIT 50;

-- name: recipe_detail
-- One recipe's ingredient list, grouped by section.
SELECT ri."id", s."name" AS "section", s."order", i."name" AS "ingredient", ri."quantity", ri."unit"
FROM "RecipeItem" AS ri
JOIN "Ingredient" AS i ON i."id" = ri."ingredientId"
LEFT JOIN "RecipeSection" AS s ON s."id" = ri."sectionId"
WHERE ri."recipeId" = %(recipe_id)s
ORDER BY s."order" NULLS LAST, ri."id";

-- name: recipe_cost
-- One recipe's ingredient cost against its selling price.
SELECT r."id", r."name", r."sellingPrice", r."yieldQuantity",
       sum(ri."quantity" * i."packPrice" / i."packSize") AS "cost"
FROM "Recipe" AS r
JOIN "RecipeItem" AS ri ON ri."recipeId" = r."id"
JOIN "Ingredient" AS i ON i."id" = ri."ingredientId"
WHERE r."id" = %(recipe_id)s
GROUP BY r."id";

-- name: recipes_by_category
-- A category page: via categoryId once the batch backfilled it, via the legacy text until then.
SELECT r."id", r."name", r."sellingPrice"
FROM "Category" AS c
JOIN "Recipe" AS r
  ON r."companyId" = c."companyId"
 AND (r."categoryId" = c."id" OR (r."categoryId" IS NULL AND r."category" = c."name"))
WHERE c."companyId" = %(company_id)s
  AND c."name" = %(category)s
ORDER BY r."name", r."id"
LIMIT 100;

-- name: sales_analytics
-- Per-recipe sales totals for a company over a date range (idx_sales_record_analytics).
SELECT s."recipeId", r."name", sum(s."quantity") AS "units", sum(s."revenue") AS "revenue"
FROM "SalesRecord" AS s
JOIN "Recipe" AS r ON r."id" = s."recipeId"
WHERE s."companyId" = %(company_id)s
  AND s."date" >= %(date_from)s
  AND s."date" < %(date_to)s
GROUP BY s."recipeId", r."name"
ORDER BY "revenue" DESC, s."recipeId"
LIMIT 20;

-- name: production_history
-- Daily production per recipe for a company over a date range
-- (idx_production_history_company_date_recipe).
SELECT ph."date", ph."recipeId", sum(ph."quantity") AS "quantity"
FROM "ProductionHistory" AS ph
WHERE ph."companyId" = %(company_id)s
  AND ph."date" >= %(date_from)s
  AND ph."date" < %(date_to)s
GROUP BY ph."date", ph."recipeId"
ORDER BY ph."date", ph."recipeId";

-- name: inventory_history
-- One ingredient's latest stock movements (idx_inventory_movement_history).
SELECT "id", "type", "quantity", "createdBy", "createdAt"
FROM "InventoryMovement"
WHERE "ingredientId" = %(ingredient_id)s
ORDER BY "createdAt" DESC
LIMIT 50;

-- name: unread_notifications
-- The bell icon: a user's unread notifications (idx_notification_unread).
SELECT "id", "type", "message", "createdAt"
FROM "Notification"
WHERE "userId" = %(user_id)s
  AND "read" = false
ORDER BY "createdAt" DESC
LIMIT 20;

-- name: wholesale_orders_by_status
-- A wholesale order tab, e.g. everything still pending (idx_wholesale_order_status_date).
SELECT "id", "customerName", "orderDate", "total"
FROM "WholesaleOrder"
WHERE "companyId" = %(company_id)s
  AND "status" = %(status)s
ORDER BY "orderDate" DESC
LIMIT 50;

-- name: save_recipe
-- The recipe editor saves a recipe. A write: it takes ROW EXCLUSIVE, so a migration holding
-- SHARE (blocks writes) makes it wait where the reads above would not. It writes the values
-- the row already has, so the data stays as generated.
UPDATE "Recipe"
SET "updatedAt" = "updatedAt", "sellingPrice" = "sellingPrice"
WHERE "id" = %(recipe_id)s;

-- name: mark_notification_read
-- Opening a notification (a write on another table, same idea as save_recipe).
UPDATE "Notification"
SET "read" = "read"
WHERE "id" = %(notification_id)s;
