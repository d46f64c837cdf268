-- db_contract (seed: tests/integration/db_contract.test.ts): after migration 1 the database
-- refuses a second line for the same ingredient and a second section at the same position.
DO $$
DECLARE
    item record;
    section record;
BEGIN
    SELECT "recipeId", "ingredientId" INTO item FROM "RecipeItem" ORDER BY "id" LIMIT 1;
    BEGIN
        INSERT INTO "RecipeItem" ("recipeId", "ingredientId", "quantity", "unit")
        VALUES (item."recipeId", item."ingredientId", 1, 'g');
        RAISE EXCEPTION 'db_contract: a duplicate (recipeId, ingredientId) was accepted';
    EXCEPTION WHEN unique_violation THEN NULL;
    END;
    SELECT "recipeId", "order" INTO section FROM "RecipeSection" ORDER BY "id" LIMIT 1;
    BEGIN
        INSERT INTO "RecipeSection" ("recipeId", "name", "order") VALUES (section."recipeId", 'again', section."order");
        RAISE EXCEPTION 'db_contract: a duplicate (recipeId, order) was accepted';
    EXCEPTION WHEN unique_violation THEN NULL;
    END;
END $$;
