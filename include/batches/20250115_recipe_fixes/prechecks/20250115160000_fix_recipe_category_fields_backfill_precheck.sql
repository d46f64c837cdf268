-- Right before the backfill: every legacy category can be mapped (seed: "Backfill yields 100% mapped
-- rows"). Zero rows = clean; otherwise the categories that name no Category of the company.
SELECT 'Recipe' AS "table",
       r."companyId" AS company_id,
       r."category" AS category,
       count(*) AS rows,
       (array_agg(r."id" ORDER BY r."id"))[1:5] AS example_ids
  FROM "Recipe" r
 WHERE r."category" IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM "Category" c
                    WHERE c."companyId" = r."companyId" AND c."name" = r."category")
 GROUP BY r."companyId", r."category"
 ORDER BY count(*) DESC, r."companyId", r."category"
