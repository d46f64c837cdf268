-- Migration 4: performance indexes for the app's top queries.
--
-- Every index is built CONCURRENTLY: SHARE UPDATE EXCLUSIVE only, so reads and writes keep
-- flowing; each statement runs on its own, outside any transaction (CONCURRENTLY cannot run
-- inside one). CONCURRENTLY waits for every transaction older than itself, in the whole
-- database, so a long transaction delays it (without blocking the app).
-- IF NOT EXISTS makes re-runs cheap; an index left invalid by an interrupted build must be
-- dropped and rebuilt: the validation after this step checks indisvalid for each one.

-- The trigram indexes need pg_trgm (creating it needs CREATE on the database). When this
-- step is the one that creates it, it says so in the extension's comment, so that its
-- rollback removes exactly what the step added and nothing that was there before.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE EXTENSION pg_trgm;
        COMMENT ON EXTENSION pg_trgm IS 'created by gonogo step 20250115150000_add_performance_indexes';
    END IF;
END $$;

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_recipe_name_trgm
    ON "Recipe" USING gin ("name" gin_trgm_ops);

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_recipe_description_trgm
    ON "Recipe" USING gin ("description" gin_trgm_ops);

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_recipe_method_trgm
    ON "Recipe" USING gin ("method" gin_trgm_ops);

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_recipe_list_covering
    ON "Recipe" ("companyId", "updatedAt" DESC)
    INCLUDE ("id", "name", "sellingPrice", "categoryId");

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_sales_record_analytics
    ON "SalesRecord" ("companyId", "date", "recipeId");

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_production_history_company_date_recipe
    ON "ProductionHistory" ("companyId", "date", "recipeId");

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_inventory_movement_history
    ON "InventoryMovement" ("ingredientId", "createdAt" DESC);

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_notification_unread
    ON "Notification" ("userId", "createdAt" DESC)
    WHERE "read" = false;

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_wholesale_order_status_date
    ON "WholesaleOrder" ("companyId", "status", "orderDate" DESC);
