-- Rollback of migration 2: drop the foreign keys it added (the seed lists the four on
-- Company, ProductionPlan, ProductionTask and InventoryMovement; the migration also adds three
-- on RecipeItem and RecipeSection). Each DROP holds its locks for milliseconds.
ALTER TABLE "RecipeItem" DROP CONSTRAINT IF EXISTS "RecipeItem_recipeId_fkey";
ALTER TABLE "RecipeItem" DROP CONSTRAINT IF EXISTS "RecipeItem_ingredientId_fkey";
ALTER TABLE "RecipeSection" DROP CONSTRAINT IF EXISTS "RecipeSection_recipeId_fkey";
ALTER TABLE "Company" DROP CONSTRAINT IF EXISTS "Company_ownerId_fkey";
ALTER TABLE "ProductionPlan" DROP CONSTRAINT IF EXISTS "ProductionPlan_createdBy_fkey";
ALTER TABLE "ProductionTask" DROP CONSTRAINT IF EXISTS "ProductionTask_assignedTo_fkey";
ALTER TABLE "InventoryMovement" DROP CONSTRAINT IF EXISTS "InventoryMovement_createdBy_fkey";
