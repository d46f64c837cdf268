-- db_contract: after migration 2 an item or a section for a recipe that does not exist, or a
-- company owned by a user who does not exist, is refused.
DO $$
BEGIN
    BEGIN
        INSERT INTO "RecipeItem" ("recipeId", "ingredientId", "quantity", "unit")
        VALUES (2147483000, (SELECT min("id") FROM "Ingredient"), 1, 'g');
        RAISE EXCEPTION 'db_contract: a RecipeItem of a missing recipe was accepted';
    EXCEPTION WHEN foreign_key_violation THEN NULL;
    END;
    BEGIN
        INSERT INTO "RecipeSection" ("recipeId", "name", "order") VALUES (2147483000, 'lost', 1);
        RAISE EXCEPTION 'db_contract: a RecipeSection of a missing recipe was accepted';
    EXCEPTION WHEN foreign_key_violation THEN NULL;
    END;
    BEGIN
        INSERT INTO "Company" ("name", "ownerId") VALUES ('Ghost Ltd', 2147483000);
        RAISE EXCEPTION 'db_contract: a Company owned by a missing user was accepted';
    EXCEPTION WHEN foreign_key_violation THEN NULL;
    END;
END $$;
