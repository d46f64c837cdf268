-- After the cutover (migration 6) a category that names no Category is refused.
DO $$
BEGIN
    INSERT INTO "Recipe" ("companyId", "name", "category") VALUES (1, 'Contract mystery', 'No such category');
    RAISE EXCEPTION 'cutover: a recipe with an unmappable category was accepted';
EXCEPTION WHEN check_violation THEN NULL;
END $$;
