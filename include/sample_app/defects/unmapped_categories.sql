-- 5 recipes whose legacy text category names no Category of their company: wrong case,
-- a trailing space, and names nobody created.
INSERT INTO "Recipe" ("id", "companyId", "name", "description", "method", "category", "categoryId",
                      "sellingPrice", "yieldQuantity", "yieldUnit", "createdAt", "updatedAt")
SELECT 909000000 + n, c."id", 'Unmapped category ' || n, NULL, NULL,
       (ARRAY['breads', 'Cakes ', 'Seasonal Specials', 'Gluten-Free', 'Uncategorised'])[n], NULL,
       3.50, 1, 'portion', timestamp '2024-06-01', timestamp '2024-06-01'
FROM generate_series(1, 5) AS n
CROSS JOIN (SELECT min("id") AS "id" FROM "Company") AS c
ON CONFLICT ("id") DO NOTHING;
