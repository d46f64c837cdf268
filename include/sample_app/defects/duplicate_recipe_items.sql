-- 5 RecipeItem rows repeating the (recipeId, ingredientId) pair of the first item of the
-- 5 lowest recipes, as a double-submitted form would.
INSERT INTO "RecipeItem" ("id", "recipeId", "ingredientId", "sectionId", "quantity", "unit", "createdAt")
SELECT 905000000 + row_number() OVER (ORDER BY ri."id"), ri."recipeId", ri."ingredientId", ri."sectionId",
       ri."quantity", ri."unit", timestamp '2024-06-01'
FROM (SELECT DISTINCT ON ("recipeId") *
      FROM "RecipeItem"
      WHERE "recipeId" IN (SELECT "id" FROM "Recipe" ORDER BY "id" LIMIT 5)
      ORDER BY "recipeId", "id") AS ri
ON CONFLICT ("id") DO NOTHING;
