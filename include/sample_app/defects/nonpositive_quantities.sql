-- 2 recipes with a yield <= 0, and 3 items (of the first of them) with a quantity <= 0.
INSERT INTO "Recipe" ("id", "companyId", "name", "description", "method", "category", "categoryId",
                      "sellingPrice", "yieldQuantity", "yieldUnit", "createdAt", "updatedAt")
SELECT 908000000 + n, c."id", 'Zero yield ' || n, NULL, NULL, NULL, NULL,
       4.00, (ARRAY[0, -2])[n], 'portion', timestamp '2024-06-01', timestamp '2024-06-01'
FROM generate_series(1, 2) AS n
CROSS JOIN (SELECT min("id") AS "id" FROM "Company") AS c
ON CONFLICT ("id") DO NOTHING;

INSERT INTO "RecipeItem" ("id", "recipeId", "ingredientId", "sectionId", "quantity", "unit", "createdAt")
SELECT 908000000 + i.n, 908000001, i."id", NULL, (ARRAY[0, -1, -0.5])[i.n], i."unit", timestamp '2024-06-01'
FROM (SELECT "id", "unit", row_number() OVER (ORDER BY "id") AS n
      FROM "Ingredient"
      WHERE "companyId" = (SELECT min("id") FROM "Company")
      ORDER BY "id" LIMIT 3) AS i
ON CONFLICT ("id") DO NOTHING;
