-- Migration 6: cut over to "categoryId". From here on every recipe with a category must
-- carry its categoryId; the dual-write trigger keeps both columns in step for old readers.
-- NOT VALID, then VALIDATE in its own transaction (scans without blocking writes).

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = '"Recipe"'::regclass AND conname = 'recipe_category_mapped') THEN
        ALTER TABLE "Recipe" ADD CONSTRAINT recipe_category_mapped
            CHECK ("category" IS NULL OR "categoryId" IS NOT NULL) NOT VALID;
    END IF;
END $$;

ALTER TABLE "Recipe" VALIDATE CONSTRAINT recipe_category_mapped;
