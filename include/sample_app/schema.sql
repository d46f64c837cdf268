-- The recipe-management app's schema as its Prisma migrations left it, before the
-- 2025-01-15 fix batch: quoted CamelCase identifiers, SERIAL ids, timestamp(3).
--
-- What the batch fixes is deliberately missing here:
--   * no unique (recipeId, ingredientId) on RecipeItem, no unique (recipeId, order) on RecipeSection
--   * no foreign keys on RecipeItem, RecipeSection, Company.ownerId, ProductionPlan.createdBy,
--     ProductionTask.assignedTo, InventoryMovement.createdBy
--   * no CHECK constraints on prices and quantities
--   * none of the performance indexes
--   * Recipe.category (legacy text) and Recipe.categoryId (new) are not kept in step

CREATE TABLE "User" (
    "id" SERIAL PRIMARY KEY,
    "email" TEXT NOT NULL,
    "name" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX "User_email_key" ON "User" ("email");

CREATE TABLE "Company" (
    "id" SERIAL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "ownerId" INTEGER NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE "Membership" (
    "id" SERIAL PRIMARY KEY,
    "userId" INTEGER NOT NULL REFERENCES "User" ("id") ON DELETE CASCADE,
    "companyId" INTEGER NOT NULL REFERENCES "Company" ("id") ON DELETE CASCADE,
    "role" TEXT NOT NULL DEFAULT 'member',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX "Membership_userId_companyId_key" ON "Membership" ("userId", "companyId");

CREATE TABLE "Category" (
    "id" SERIAL PRIMARY KEY,
    "companyId" INTEGER NOT NULL REFERENCES "Company" ("id") ON DELETE CASCADE,
    "name" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX "Category_companyId_name_key" ON "Category" ("companyId", "name");

CREATE TABLE "Ingredient" (
    "id" SERIAL PRIMARY KEY,
    "companyId" INTEGER NOT NULL REFERENCES "Company" ("id") ON DELETE CASCADE,
    "name" TEXT NOT NULL,
    "unit" TEXT NOT NULL,
    "packSize" DECIMAL(10, 3) NOT NULL,
    "packPrice" DECIMAL(10, 2) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX "Ingredient_companyId_idx" ON "Ingredient" ("companyId");

CREATE TABLE "Recipe" (
    "id" SERIAL PRIMARY KEY,
    "companyId" INTEGER NOT NULL REFERENCES "Company" ("id") ON DELETE CASCADE,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "method" TEXT,
    "category" TEXT,
    "categoryId" INTEGER REFERENCES "Category" ("id") ON DELETE SET NULL,
    "sellingPrice" DECIMAL(10, 2),
    "yieldQuantity" DECIMAL(10, 3) NOT NULL DEFAULT 1,
    "yieldUnit" TEXT NOT NULL DEFAULT 'portion',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX "Recipe_companyId_idx" ON "Recipe" ("companyId");

CREATE TABLE "RecipeSection" (
    "id" SERIAL PRIMARY KEY,
    "recipeId" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "order" INTEGER NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX "RecipeSection_recipeId_idx" ON "RecipeSection" ("recipeId");

CREATE TABLE "RecipeItem" (
    "id" SERIAL PRIMARY KEY,
    "recipeId" INTEGER NOT NULL,
    "ingredientId" INTEGER NOT NULL,
    "sectionId" INTEGER,
    "quantity" DECIMAL(10, 3) NOT NULL,
    "unit" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX "RecipeItem_recipeId_idx" ON "RecipeItem" ("recipeId");

CREATE TABLE "ProductionPlan" (
    "id" SERIAL PRIMARY KEY,
    "companyId" INTEGER NOT NULL REFERENCES "Company" ("id") ON DELETE CASCADE,
    "name" TEXT NOT NULL,
    "date" TIMESTAMP(3) NOT NULL,
    "createdBy" INTEGER NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE "ProductionTask" (
    "id" SERIAL PRIMARY KEY,
    "planId" INTEGER NOT NULL REFERENCES "ProductionPlan" ("id") ON DELETE CASCADE,
    "recipeId" INTEGER NOT NULL REFERENCES "Recipe" ("id") ON DELETE CASCADE,
    "quantity" DECIMAL(10, 3) NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "assignedTo" INTEGER,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE "InventoryMovement" (
    "id" SERIAL PRIMARY KEY,
    "companyId" INTEGER NOT NULL REFERENCES "Company" ("id") ON DELETE CASCADE,
    "ingredientId" INTEGER NOT NULL REFERENCES "Ingredient" ("id") ON DELETE CASCADE,
    "quantity" DECIMAL(10, 3) NOT NULL,
    "type" TEXT NOT NULL,
    "createdBy" INTEGER NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE "SalesRecord" (
    "id" SERIAL PRIMARY KEY,
    "companyId" INTEGER NOT NULL REFERENCES "Company" ("id") ON DELETE CASCADE,
    "recipeId" INTEGER NOT NULL REFERENCES "Recipe" ("id") ON DELETE CASCADE,
    "date" TIMESTAMP(3) NOT NULL,
    "quantity" INTEGER NOT NULL,
    "revenue" DECIMAL(12, 2) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE "ProductionHistory" (
    "id" SERIAL PRIMARY KEY,
    "companyId" INTEGER NOT NULL REFERENCES "Company" ("id") ON DELETE CASCADE,
    "recipeId" INTEGER NOT NULL REFERENCES "Recipe" ("id") ON DELETE CASCADE,
    "date" TIMESTAMP(3) NOT NULL,
    "quantity" DECIMAL(10, 3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE "Notification" (
    "id" SERIAL PRIMARY KEY,
    "userId" INTEGER NOT NULL REFERENCES "User" ("id") ON DELETE CASCADE,
    "type" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    "read" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE "WholesaleOrder" (
    "id" SERIAL PRIMARY KEY,
    "companyId" INTEGER NOT NULL REFERENCES "Company" ("id") ON DELETE CASCADE,
    "customerName" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "orderDate" TIMESTAMP(3) NOT NULL,
    "total" DECIMAL(12, 2) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
