-- Rollback of migration 3: drop the CHECK constraints (the names the seed's rollback lists).
ALTER TABLE "Recipe" DROP CONSTRAINT IF EXISTS recipe_selling_price_positive;
ALTER TABLE "Ingredient" DROP CONSTRAINT IF EXISTS ingredient_pack_price_positive;
ALTER TABLE "Recipe" DROP CONSTRAINT IF EXISTS recipe_yield_quantity_positive;
ALTER TABLE "RecipeItem" DROP CONSTRAINT IF EXISTS recipe_item_quantity_positive;
