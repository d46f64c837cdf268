-- db_contract: after migration 3 non-positive prices and quantities are refused.
DO $$
BEGIN
    BEGIN
        UPDATE "Recipe" SET "sellingPrice" = -1 WHERE "id" = (SELECT min("id") FROM "Recipe");
        RAISE EXCEPTION 'db_contract: a negative sellingPrice was accepted';
    EXCEPTION WHEN check_violation THEN NULL;
    END;
    BEGIN
        UPDATE "Ingredient" SET "packPrice" = 0 WHERE "id" = (SELECT min("id") FROM "Ingredient");
        RAISE EXCEPTION 'db_contract: a zero packPrice was accepted';
    EXCEPTION WHEN check_violation THEN NULL;
    END;
    BEGIN
        UPDATE "RecipeItem" SET "quantity" = 0 WHERE "id" = (SELECT min("id") FROM "RecipeItem");
        RAISE EXCEPTION 'db_contract: a zero RecipeItem quantity was accepted';
    EXCEPTION WHEN check_violation THEN NULL;
    END;
    BEGIN
        UPDATE "Recipe" SET "yieldQuantity" = 0 WHERE "id" = (SELECT min("id") FROM "Recipe");
        RAISE EXCEPTION 'db_contract: a zero yieldQuantity was accepted';
    EXCEPTION WHEN check_violation THEN NULL;
    END;
END $$;
