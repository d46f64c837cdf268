-- Rollback of migration 7: bring back the text column, refill it from "categoryId", and
-- restore the dual write and the cutover constraint exactly as migrations 5 and 6 left them.
ALTER TABLE "Recipe" ADD COLUMN IF NOT EXISTS "category" TEXT;

-- Refill in batches of 1000 rows, each committed on its own: the re-added column is NULL in
-- every row, so one UPDATE would hold every mapped row's lock until the end.
DO $$
DECLARE
    batch bigint;
BEGIN
    LOOP
        UPDATE "Recipe" r SET "category" = c."name"
          FROM "Category" c
         WHERE r."id" IN (SELECT r2."id" FROM "Recipe" r2
                           WHERE r2."categoryId" IS NOT NULL AND r2."category" IS NULL
                           ORDER BY r2."id" LIMIT 1000)
           AND c."id" = r."categoryId";
        GET DIAGNOSTICS batch = ROW_COUNT;
        EXIT WHEN batch = 0;
        COMMIT;
    END LOOP;
END $$;

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

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = '"Recipe"'::regclass AND conname = 'recipe_category_mapped') THEN
        ALTER TABLE "Recipe" ADD CONSTRAINT recipe_category_mapped
            CHECK ("category" IS NULL OR "categoryId" IS NOT NULL) NOT VALID;
    END IF;
END $$;

ALTER TABLE "Recipe" VALIDATE CONSTRAINT recipe_category_mapped;
