-- Rollback of migration 1. Dropping a constraint drops the index it owns.
ALTER TABLE "RecipeItem" DROP CONSTRAINT IF EXISTS "RecipeItem_recipeId_ingredientId_key";
ALTER TABLE "RecipeSection" DROP CONSTRAINT IF EXISTS "RecipeSection_recipeId_order_key";

-- The forward step may have stopped after building an index and before attaching it:
-- then the index stands alone (and may be invalid). Drop it without blocking writes.
DROP INDEX CONCURRENTLY IF EXISTS "RecipeItem_recipeId_ingredientId_key";
DROP INDEX CONCURRENTLY IF EXISTS "RecipeSection_recipeId_order_key";
