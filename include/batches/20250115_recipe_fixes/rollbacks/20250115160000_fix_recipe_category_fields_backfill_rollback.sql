-- Rollback of migration 5: stop the dual write.
-- The backfilled "categoryId" values stay: the column existed before the batch, the old app
-- never reads it, and each value agrees with the row's category text, so keeping them loses
-- nothing; clearing them would also clear ids the app itself wrote meanwhile.
DROP TRIGGER IF EXISTS sync_recipe_category_trigger ON "Recipe";
DROP FUNCTION IF EXISTS sync_recipe_category();
