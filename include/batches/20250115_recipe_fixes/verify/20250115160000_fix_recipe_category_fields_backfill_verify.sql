-- Backfill verification (seed: "Backfill yields 100% mapped rows"). Zero rows = clean.
SELECT 'Recipe rows with a category and no categoryId' AS problem,
       count(*) AS rows,
       (array_agg("id" ORDER BY "id"))[1:5] AS examples
  FROM "Recipe"
 WHERE "category" IS NOT NULL AND "categoryId" IS NULL
HAVING count(*) > 0
UNION ALL
SELECT 'Recipe rows whose categoryId names another category',
       count(*),
       (array_agg(r."id" ORDER BY r."id"))[1:5]
  FROM "Recipe" r JOIN "Category" c ON c."id" = r."categoryId"
 WHERE c."name" IS DISTINCT FROM r."category"
HAVING count(*) > 0
