-- Rollback of migration 4: drop the indexes CONCURRENTLY (the seed's list), each on its own.
DROP INDEX CONCURRENTLY IF EXISTS idx_recipe_name_trgm;
DROP INDEX CONCURRENTLY IF EXISTS idx_recipe_description_trgm;
DROP INDEX CONCURRENTLY IF EXISTS idx_recipe_method_trgm;
DROP INDEX CONCURRENTLY IF EXISTS idx_recipe_list_covering;
DROP INDEX CONCURRENTLY IF EXISTS idx_sales_record_analytics;
DROP INDEX CONCURRENTLY IF EXISTS idx_production_history_company_date_recipe;
DROP INDEX CONCURRENTLY IF EXISTS idx_inventory_movement_history;
DROP INDEX CONCURRENTLY IF EXISTS idx_notification_unread;
DROP INDEX CONCURRENTLY IF EXISTS idx_wholesale_order_status_date;

-- pg_trgm goes only if the forward step created it (see its comment there).
DO $$
BEGIN
    IF (SELECT obj_description(oid, 'pg_extension') FROM pg_extension WHERE extname = 'pg_trgm')
       = 'created by gonogo step 20250115150000_add_performance_indexes' THEN
        DROP EXTENSION pg_trgm;
    END IF;
END $$;
