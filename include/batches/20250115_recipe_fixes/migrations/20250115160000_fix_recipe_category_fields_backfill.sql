-- Migration 5: map the legacy text Recipe.category onto Recipe."categoryId".
--
-- Order matters: the dual-write trigger goes in first, so every write the app makes while
-- the backfill runs is mapped too; then the backfill catches up on the existing rows.
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

-- Backfill in batches of 1000 rows, each committed on its own, so no row lock is held for
-- long and the app's writes interleave. Only rows that can be mapped are selected, so the
-- loop ends; rows that cannot be mapped are counted and left for the gate to report.
DO $$
DECLARE
    to_map     bigint;
    unmappable bigint;
    batch      bigint;
    done       bigint := 0;
BEGIN
    SELECT count(*) INTO to_map FROM "Recipe" WHERE "category" IS NOT NULL AND "categoryId" IS NULL;
    RAISE NOTICE 'before backfill: % recipes with a category and no categoryId', to_map;
    LOOP
        UPDATE "Recipe" r
           SET "categoryId" = c."id"
          FROM "Category" c
         WHERE r."id" IN (SELECT r2."id"
                            FROM "Recipe" r2
                            JOIN "Category" c2 ON c2."companyId" = r2."companyId" AND c2."name" = r2."category"
                           WHERE r2."categoryId" IS NULL
                           ORDER BY r2."id"
                           LIMIT 1000)
           AND c."companyId" = r."companyId" AND c."name" = r."category";
        GET DIAGNOSTICS batch = ROW_COUNT;
        EXIT WHEN batch = 0;
        done := done + batch;
        COMMIT;
        RAISE NOTICE 'backfill: % of % mapped', done, to_map;
    END LOOP;
    SELECT count(*) INTO unmappable FROM "Recipe" WHERE "category" IS NOT NULL AND "categoryId" IS NULL;
    RAISE NOTICE 'after backfill: % mapped, % with a category and no categoryId', done, unmappable;
END $$;
