-- Rollback of migration 6: drop the cutover constraint; the dual write goes on.
ALTER TABLE "Recipe" DROP CONSTRAINT IF EXISTS recipe_category_mapped;
