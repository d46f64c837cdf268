-- 4 RecipeSection rows whose recipe is gone: recipeId 992000001..4 matches no Recipe.
INSERT INTO "RecipeSection" ("id", "recipeId", "name", "order", "createdAt")
SELECT 902000000 + n, 992000000 + n, 'Filling', 1, timestamp '2024-06-01'
FROM generate_series(1, 4) AS n
ON CONFLICT ("id") DO NOTHING;
