-- Migration 3: CHECK constraints on prices and quantities (NULL sellingPrice stays allowed:
-- a CHECK passes on NULL).
--
-- Same two phases as the foreign keys: ADD ... NOT VALID is catalog-only (a brief ACCESS
-- EXCLUSIVE lock, taken under lock_timeout), then VALIDATE scans under SHARE UPDATE EXCLUSIVE
-- in its own transaction, without blocking reads or writes.
-- The precondition gate counts violating rows first, or VALIDATE fails.

-- Phase 1: add NOT VALID
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = '"Recipe"'::regclass AND conname = 'recipe_selling_price_positive') THEN
        ALTER TABLE "Recipe" ADD CONSTRAINT recipe_selling_price_positive CHECK ("sellingPrice" > 0) NOT VALID;
    END IF;
END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = '"Ingredient"'::regclass AND conname = 'ingredient_pack_price_positive') THEN
        ALTER TABLE "Ingredient" ADD CONSTRAINT ingredient_pack_price_positive CHECK ("packPrice" > 0) NOT VALID;
    END IF;
END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = '"Recipe"'::regclass AND conname = 'recipe_yield_quantity_positive') THEN
        ALTER TABLE "Recipe" ADD CONSTRAINT recipe_yield_quantity_positive CHECK ("yieldQuantity" > 0) NOT VALID;
    END IF;
END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = '"RecipeItem"'::regclass AND conname = 'recipe_item_quantity_positive') THEN
        ALTER TABLE "RecipeItem" ADD CONSTRAINT recipe_item_quantity_positive CHECK ("quantity" > 0) NOT VALID;
    END IF;
END $$;

-- Phase 2: validate, one transaction per constraint
ALTER TABLE "Recipe" VALIDATE CONSTRAINT recipe_selling_price_positive;
ALTER TABLE "Ingredient" VALIDATE CONSTRAINT ingredient_pack_price_positive;
ALTER TABLE "Recipe" VALIDATE CONSTRAINT recipe_yield_quantity_positive;
ALTER TABLE "RecipeItem" VALIDATE CONSTRAINT recipe_item_quantity_positive;
