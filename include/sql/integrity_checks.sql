-- Orphan integrity (seed 5.6): every reference the batch's foreign keys will enforce, plus the
-- junction table. Zero rows = clean; each row names a reference, its orphan count and a few ids.
SELECT 'RecipeItem.recipeId -> Recipe.id' AS reference,
       count(*) AS orphans,
       (array_agg(child."id" ORDER BY child."id"))[1:5] AS example_ids
  FROM "RecipeItem" child
 WHERE child."recipeId" IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM "Recipe" parent WHERE parent."id" = child."recipeId")
HAVING count(*) > 0
UNION ALL
SELECT 'RecipeItem.ingredientId -> Ingredient.id' AS reference,
       count(*) AS orphans,
       (array_agg(child."id" ORDER BY child."id"))[1:5] AS example_ids
  FROM "RecipeItem" child
 WHERE child."ingredientId" IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM "Ingredient" parent WHERE parent."id" = child."ingredientId")
HAVING count(*) > 0
UNION ALL
SELECT 'RecipeSection.recipeId -> Recipe.id' AS reference,
       count(*) AS orphans,
       (array_agg(child."id" ORDER BY child."id"))[1:5] AS example_ids
  FROM "RecipeSection" child
 WHERE child."recipeId" IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM "Recipe" parent WHERE parent."id" = child."recipeId")
HAVING count(*) > 0
UNION ALL
SELECT 'Company.ownerId -> User.id' AS reference,
       count(*) AS orphans,
       (array_agg(child."id" ORDER BY child."id"))[1:5] AS example_ids
  FROM "Company" child
 WHERE child."ownerId" IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM "User" parent WHERE parent."id" = child."ownerId")
HAVING count(*) > 0
UNION ALL
SELECT 'ProductionPlan.createdBy -> User.id' AS reference,
       count(*) AS orphans,
       (array_agg(child."id" ORDER BY child."id"))[1:5] AS example_ids
  FROM "ProductionPlan" child
 WHERE child."createdBy" IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM "User" parent WHERE parent."id" = child."createdBy")
HAVING count(*) > 0
UNION ALL
SELECT 'ProductionTask.assignedTo -> User.id' AS reference,
       count(*) AS orphans,
       (array_agg(child."id" ORDER BY child."id"))[1:5] AS example_ids
  FROM "ProductionTask" child
 WHERE child."assignedTo" IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM "User" parent WHERE parent."id" = child."assignedTo")
HAVING count(*) > 0
UNION ALL
SELECT 'InventoryMovement.createdBy -> User.id' AS reference,
       count(*) AS orphans,
       (array_agg(child."id" ORDER BY child."id"))[1:5] AS example_ids
  FROM "InventoryMovement" child
 WHERE child."createdBy" IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM "User" parent WHERE parent."id" = child."createdBy")
HAVING count(*) > 0
UNION ALL
SELECT 'Membership.userId -> User.id' AS reference,
       count(*) AS orphans,
       (array_agg(child."id" ORDER BY child."id"))[1:5] AS example_ids
  FROM "Membership" child
 WHERE child."userId" IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM "User" parent WHERE parent."id" = child."userId")
HAVING count(*) > 0
UNION ALL
SELECT 'Membership.companyId -> Company.id' AS reference,
       count(*) AS orphans,
       (array_agg(child."id" ORDER BY child."id"))[1:5] AS example_ids
  FROM "Membership" child
 WHERE child."companyId" IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM "Company" parent WHERE parent."id" = child."companyId")
HAVING count(*) > 0
