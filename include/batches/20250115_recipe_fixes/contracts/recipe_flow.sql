-- recipe_flow (seed: tests/integration/recipe_flow.test.ts): the app creates a recipe with
-- sections and items and reads it back, as its recipe editor does. Holds before the batch too.
DO $$
DECLARE
    recipe_id int;
    section_id int;
    items int;
BEGIN
    INSERT INTO "Recipe" ("companyId", "name", "description", "category", "sellingPrice", "yieldQuantity")
    VALUES (1, 'Contract sourdough', 'made by the recipe_flow contract', 'Breads', 6.50, 2)
    RETURNING "id" INTO recipe_id;
    INSERT INTO "RecipeSection" ("recipeId", "name", "order") VALUES (recipe_id, 'Dough', 1)
    RETURNING "id" INTO section_id;
    INSERT INTO "RecipeSection" ("recipeId", "name", "order") VALUES (recipe_id, 'Bake', 2);
    INSERT INTO "RecipeItem" ("recipeId", "ingredientId", "sectionId", "quantity", "unit")
    SELECT recipe_id, i."id", section_id, 0.25, i."unit"
      FROM "Ingredient" i WHERE i."companyId" = 1 ORDER BY i."id" LIMIT 3;
    SELECT count(*) INTO items
      FROM "RecipeItem" ri JOIN "Ingredient" i ON i."id" = ri."ingredientId"
     WHERE ri."recipeId" = recipe_id;
    IF items <> 3 THEN
        RAISE EXCEPTION 'recipe_flow: the new recipe reads back % items, not 3', items;
    END IF;
END $$;
