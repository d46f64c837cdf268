-- 4 RecipeSection rows repeating the (recipeId, order) of the first section of the 4 lowest recipes.
INSERT INTO "RecipeSection" ("id", "recipeId", "name", "order", "createdAt")
SELECT 906000000 + row_number() OVER (ORDER BY s."id"), s."recipeId", s."name" || ' (copy)', s."order",
       timestamp '2024-06-01'
FROM (SELECT DISTINCT ON ("recipeId") *
      FROM "RecipeSection"
      WHERE "recipeId" IN (SELECT "id" FROM "Recipe" ORDER BY "id" LIMIT 4)
      ORDER BY "recipeId", "order", "id") AS s
ON CONFLICT ("id") DO NOTHING;
