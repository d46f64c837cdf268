-- 5 RecipeItem rows whose recipe is gone: recipeId 991000001..5 matches no Recipe.
INSERT INTO "RecipeItem" ("id", "recipeId", "ingredientId", "sectionId", "quantity", "unit", "createdAt")
SELECT 901000000 + n, 991000000 + n, i."id", NULL, 100, i."unit", timestamp '2024-06-01'
FROM generate_series(1, 5) AS n
CROSS JOIN (SELECT "id", "unit" FROM "Ingredient" ORDER BY "id" LIMIT 1) AS i
ON CONFLICT ("id") DO NOTHING;
