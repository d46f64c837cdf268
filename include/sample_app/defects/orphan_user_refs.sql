-- 6 rows pointing at users 994000001..6 that do not exist: one Company.ownerId, two
-- ProductionPlan.createdBy, two InventoryMovement.createdBy, one ProductionTask.assignedTo.
INSERT INTO "Company" ("id", "name", "ownerId", "createdAt")
VALUES (904000001, 'Ghost Owner Bakery', 994000001, timestamp '2024-06-01')
ON CONFLICT ("id") DO NOTHING;

INSERT INTO "ProductionPlan" ("id", "companyId", "name", "date", "createdBy", "createdAt")
SELECT 904000000 + n, c."id", 'Plan by a deleted user', timestamp '2024-06-03', 994000000 + n, timestamp '2024-06-01'
FROM generate_series(2, 3) AS n
CROSS JOIN (SELECT min("id") AS "id" FROM "Company") AS c
ON CONFLICT ("id") DO NOTHING;

INSERT INTO "InventoryMovement" ("id", "companyId", "ingredientId", "quantity", "type", "createdBy", "createdAt")
SELECT 904000000 + n, i."companyId", i."id", 1, 'adjustment', 994000000 + n, timestamp '2024-06-01'
FROM generate_series(4, 5) AS n
CROSS JOIN (SELECT "id", "companyId" FROM "Ingredient" ORDER BY "id" LIMIT 1) AS i
ON CONFLICT ("id") DO NOTHING;

INSERT INTO "ProductionTask" ("id", "planId", "recipeId", "quantity", "status", "assignedTo", "createdAt")
SELECT 904000006, (SELECT min("id") FROM "ProductionPlan"), (SELECT min("id") FROM "Recipe"), 1, 'pending',
       994000006, timestamp '2024-06-01'
ON CONFLICT ("id") DO NOTHING;
