-- 3 recipes with a selling price <= 0 and 3 ingredients with a pack price <= 0.
INSERT INTO "Recipe" ("id", "companyId", "name", "description", "method", "category", "categoryId",
                      "sellingPrice", "yieldQuantity", "yieldUnit", "createdAt", "updatedAt")
SELECT 907000000 + n, c."id", 'Price typo ' || n, NULL, NULL, NULL, NULL,
       (ARRAY[0.00, -1.00, -12.50])[n], 1, 'portion', timestamp '2024-06-01', timestamp '2024-06-01'
FROM generate_series(1, 3) AS n
CROSS JOIN (SELECT min("id") AS "id" FROM "Company") AS c
ON CONFLICT ("id") DO NOTHING;

INSERT INTO "Ingredient" ("id", "companyId", "name", "unit", "packSize", "packPrice", "createdAt", "updatedAt")
SELECT 907000000 + n, c."id", 'Free sample ' || n, 'g', 1000,
       (ARRAY[0.00, -0.01, -5.00])[n], timestamp '2024-06-01', timestamp '2024-06-01'
FROM generate_series(1, 3) AS n
CROSS JOIN (SELECT min("id") AS "id" FROM "Company") AS c
ON CONFLICT ("id") DO NOTHING;
