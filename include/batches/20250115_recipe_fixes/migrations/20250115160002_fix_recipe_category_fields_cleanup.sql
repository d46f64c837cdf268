-- Migration 7 (DISABLED): remove the legacy text column once nothing reads it.
-- Seed, "Next Steps": only after one week of stable production metrics, enabled explicitly
-- by an operator with its own approval. DROP COLUMN is irreversible for the data: the
-- rollback rebuilds the text from "categoryId".

DROP TRIGGER IF EXISTS sync_recipe_category_trigger ON "Recipe";
DROP FUNCTION IF EXISTS sync_recipe_category();
ALTER TABLE "Recipe" DROP CONSTRAINT IF EXISTS recipe_category_mapped;
ALTER TABLE "Recipe" DROP COLUMN IF EXISTS "category";
