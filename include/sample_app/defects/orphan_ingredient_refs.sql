-- 5 RecipeItem rows of real recipes whose ingredientId 993000001..5 matches no Ingredient.
INSERT INTO "RecipeItem" ("id", "recipeId", "ingredientId", "sectionId", "quantity", "unit", "createdAt")
SELECT 903000000 + r.n, r."id", 993000000 + r.n, NULL, 50, 'g', timestamp '2024-06-01'
FROM (SELECT "id", row_number() OVER (ORDER BY "id") AS n FROM "Recipe" ORDER BY "id" LIMIT 5) AS r
ON CONFLICT ("id") DO NOTHING;
