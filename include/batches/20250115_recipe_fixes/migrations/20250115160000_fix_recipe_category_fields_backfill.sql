-- Migration 5: map the legacy text Recipe.category onto Recipe."categoryId".
--
-- Order matters: the dual-write trigger goes in first, so every write the app makes while
-- the backfill runs is mapped too; then the backfill runner catches up on the existing rows.
-- Mapping is deterministic: Category with the recipe's companyId and name = category.
-- CREATE TRIGGER holds SHARE ROW EXCLUSIVE on "Recipe" for milliseconds (under lock_timeout).

CREATE OR REPLACE FUNCTION sync_recipe_category() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW."categoryId" IS NOT NULL THEN
            NEW."category" := (SELECT c."name" FROM "Category" c WHERE c."id" = NEW."categoryId");
        ELSIF NEW."category" IS NOT NULL THEN
            NEW."categoryId" := (SELECT c."id" FROM "Category" c
                                 WHERE c."companyId" = NEW."companyId" AND c."name" = NEW."category");
        END IF;
    ELSIF NEW."category" IS DISTINCT FROM OLD."category" THEN
        -- an old app version wrote the text: follow it
        NEW."categoryId" := (SELECT c."id" FROM "Category" c
                             WHERE c."companyId" = NEW."companyId" AND c."name" = NEW."category");
    ELSIF NEW."categoryId" IS DISTINCT FROM OLD."categoryId" THEN
        -- a new app version wrote the id: keep the text in step for old readers
        NEW."category" := (SELECT c."name" FROM "Category" c WHERE c."id" = NEW."categoryId");
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER sync_recipe_category_trigger
    BEFORE INSERT OR UPDATE OF "category", "categoryId" ON "Recipe"
    FOR EACH ROW EXECUTE FUNCTION sync_recipe_category();

-- The backfill itself is not in this file: gonogo's backfill runner (manifest: backfill) maps the
-- existing rows next, in short transactions of 1000 rows each, resumable, each batch proven to
-- change nothing but "categoryId" (backfill/20250115160000_fix_recipe_category_fields_backfill_batch.sql).
DO $$
DECLARE
    to_map bigint;
BEGIN
    SELECT count(*) INTO to_map FROM "Recipe" WHERE "category" IS NOT NULL AND "categoryId" IS NULL;
    RAISE NOTICE 'before backfill: % recipes with a category and no categoryId', to_map;
END $$;
