-- recipe_flow: after migration 5 the dual-write trigger keeps category and categoryId in step,
-- whichever of the two an app version writes.
DO $$
DECLARE
    recipe_id int;
    breads int;
    soups int;
    got_id int;
    got_name text;
BEGIN
    SELECT "id" INTO breads FROM "Category" WHERE "companyId" = 1 AND "name" = 'Breads';
    SELECT "id" INTO soups FROM "Category" WHERE "companyId" = 1 AND "name" = 'Soups';
    -- an old app version writes only the text
    INSERT INTO "Recipe" ("companyId", "name", "category") VALUES (1, 'Contract loaf', 'Breads')
    RETURNING "id", "categoryId" INTO recipe_id, got_id;
    IF got_id IS DISTINCT FROM breads THEN
        RAISE EXCEPTION 'dual write: category Breads gave categoryId %, not %', got_id, breads;
    END IF;
    -- a new app version writes only the id
    UPDATE "Recipe" SET "categoryId" = soups WHERE "id" = recipe_id RETURNING "category" INTO got_name;
    IF got_name IS DISTINCT FROM 'Soups' THEN
        RAISE EXCEPTION 'dual write: categoryId of Soups gave category %', got_name;
    END IF;
    -- and the old one again
    UPDATE "Recipe" SET "category" = 'Breads' WHERE "id" = recipe_id RETURNING "categoryId" INTO got_id;
    IF got_id IS DISTINCT FROM breads THEN
        RAISE EXCEPTION 'dual write: category Breads gave categoryId % after an update', got_id;
    END IF;
END $$;
