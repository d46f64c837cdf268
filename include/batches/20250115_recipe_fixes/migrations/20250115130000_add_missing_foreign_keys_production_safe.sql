-- Migration 2: the foreign keys Prisma's schema declares but the database never got.
--
-- Production-safe pattern, in two phases:
--   1. ADD CONSTRAINT ... NOT VALID: catalog-only, holds SHARE ROW EXCLUSIVE on both tables
--      for milliseconds; new writes are checked from then on.
--   2. VALIDATE CONSTRAINT, each in its own transaction: scans the table under
--      SHARE UPDATE EXCLUSIVE, which does not block reads or writes.
-- The orphan integrity gate must show zero orphans first, or VALIDATE fails.
-- Idempotent: a constraint that exists is left alone; VALIDATE of a valid one is a no-op.

-- Phase 1: add NOT VALID
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = '"RecipeItem"'::regclass AND conname = 'RecipeItem_recipeId_fkey') THEN
        ALTER TABLE "RecipeItem" ADD CONSTRAINT "RecipeItem_recipeId_fkey"
            FOREIGN KEY ("recipeId") REFERENCES "Recipe" ("id") ON DELETE CASCADE ON UPDATE CASCADE NOT VALID;
    END IF;
END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = '"RecipeItem"'::regclass AND conname = 'RecipeItem_ingredientId_fkey') THEN
        ALTER TABLE "RecipeItem" ADD CONSTRAINT "RecipeItem_ingredientId_fkey"
            FOREIGN KEY ("ingredientId") REFERENCES "Ingredient" ("id") ON DELETE RESTRICT ON UPDATE CASCADE NOT VALID;
    END IF;
END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = '"RecipeSection"'::regclass AND conname = 'RecipeSection_recipeId_fkey') THEN
        ALTER TABLE "RecipeSection" ADD CONSTRAINT "RecipeSection_recipeId_fkey"
            FOREIGN KEY ("recipeId") REFERENCES "Recipe" ("id") ON DELETE CASCADE ON UPDATE CASCADE NOT VALID;
    END IF;
END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = '"Company"'::regclass AND conname = 'Company_ownerId_fkey') THEN
        ALTER TABLE "Company" ADD CONSTRAINT "Company_ownerId_fkey"
            FOREIGN KEY ("ownerId") REFERENCES "User" ("id") ON DELETE RESTRICT ON UPDATE CASCADE NOT VALID;
    END IF;
END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = '"ProductionPlan"'::regclass AND conname = 'ProductionPlan_createdBy_fkey') THEN
        ALTER TABLE "ProductionPlan" ADD CONSTRAINT "ProductionPlan_createdBy_fkey"
            FOREIGN KEY ("createdBy") REFERENCES "User" ("id") ON DELETE RESTRICT ON UPDATE CASCADE NOT VALID;
    END IF;
END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = '"ProductionTask"'::regclass AND conname = 'ProductionTask_assignedTo_fkey') THEN
        ALTER TABLE "ProductionTask" ADD CONSTRAINT "ProductionTask_assignedTo_fkey"
            FOREIGN KEY ("assignedTo") REFERENCES "User" ("id") ON DELETE SET NULL ON UPDATE CASCADE NOT VALID;
    END IF;
END $$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = '"InventoryMovement"'::regclass AND conname = 'InventoryMovement_createdBy_fkey') THEN
        ALTER TABLE "InventoryMovement" ADD CONSTRAINT "InventoryMovement_createdBy_fkey"
            FOREIGN KEY ("createdBy") REFERENCES "User" ("id") ON DELETE RESTRICT ON UPDATE CASCADE NOT VALID;
    END IF;
END $$;

-- Phase 2: validate, one transaction per constraint
ALTER TABLE "RecipeItem" VALIDATE CONSTRAINT "RecipeItem_recipeId_fkey";
ALTER TABLE "RecipeItem" VALIDATE CONSTRAINT "RecipeItem_ingredientId_fkey";
ALTER TABLE "RecipeSection" VALIDATE CONSTRAINT "RecipeSection_recipeId_fkey";
ALTER TABLE "Company" VALIDATE CONSTRAINT "Company_ownerId_fkey";
ALTER TABLE "ProductionPlan" VALIDATE CONSTRAINT "ProductionPlan_createdBy_fkey";
ALTER TABLE "ProductionTask" VALIDATE CONSTRAINT "ProductionTask_assignedTo_fkey";
ALTER TABLE "InventoryMovement" VALIDATE CONSTRAINT "InventoryMovement_createdBy_fkey";
