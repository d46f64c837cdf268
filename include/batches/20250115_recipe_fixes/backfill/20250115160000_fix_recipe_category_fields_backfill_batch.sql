-- One batch of the category backfill (gonogo.backfill runs it, in a transaction of its own, for
-- each range of keys): map the legacy text Recipe.category onto Recipe."categoryId" for the rows
-- with from_key < id <= to_key. Deterministic: the Category of the recipe's company with
-- name = category. Rows already mapped (by the dual-write trigger, or an earlier batch) are left
-- alone; rows whose category names no Category stay NULL, for the verify file to report.
UPDATE "Recipe" r
   SET "categoryId" = c."id"
  FROM "Category" c
 WHERE r."id" > %(from_key)s AND r."id" <= %(to_key)s
   AND r."categoryId" IS NULL
   AND c."companyId" = r."companyId" AND c."name" = r."category";
