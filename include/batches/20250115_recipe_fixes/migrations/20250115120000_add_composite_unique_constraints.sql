-- Migration 1: composite unique constraints on RecipeItem (recipeId, ingredientId) and
-- RecipeSection (recipeId, "order").
--
-- ADD CONSTRAINT ... UNIQUE would build the index under an ACCESS EXCLUSIVE lock, blocking
-- reads and writes for the whole build. Instead the unique index is built CONCURRENTLY
-- (writes keep flowing) and then attached as the constraint, a catalog-only change.
-- Runs outside a transaction: CREATE INDEX CONCURRENTLY cannot run inside one.
-- Fails if duplicates exist: the preflight duplicate gate names them first.

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "RecipeItem_recipeId_ingredientId_key"
    ON "RecipeItem" ("recipeId", "ingredientId");

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = '"RecipeItem"'::regclass
                     AND conname = 'RecipeItem_recipeId_ingredientId_key') THEN
        ALTER TABLE "RecipeItem" ADD CONSTRAINT "RecipeItem_recipeId_ingredientId_key"
            UNIQUE USING INDEX "RecipeItem_recipeId_ingredientId_key";
    END IF;
END $$;

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "RecipeSection_recipeId_order_key"
    ON "RecipeSection" ("recipeId", "order");

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = '"RecipeSection"'::regclass
                     AND conname = 'RecipeSection_recipeId_order_key') THEN
        ALTER TABLE "RecipeSection" ADD CONSTRAINT "RecipeSection_recipeId_order_key"
            UNIQUE USING INDEX "RecipeSection_recipeId_order_key";
    END IF;
END $$;
