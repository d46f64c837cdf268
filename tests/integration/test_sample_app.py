"""The recipe app's data, defects, queries and workload, against a real throwaway cluster."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

import sample_app
from gonogo.postgres.sqlfile import split_statements
from gonogo.postgres.target import Target
from sample_app.workload import main as workload_main
from sample_app.workload import run_workload

SCALE = 0.1          # 5 companies: big enough to be realistic, small enough to load in ~0.3 s
DEFECT_SCALE = 0.02  # 1 company, for the one-database-per-defect tests

PER_COMPANY = {"User": 10, "Company": 1, "Membership": 12, "Category": 10, "Ingredient": 100,
               "Recipe": 100, "RecipeSection": 300, "RecipeItem": 2000, "ProductionPlan": 20,
               "ProductionTask": 200, "InventoryMovement": 1000, "SalesRecord": 2000,
               "ProductionHistory": 1000, "Notification": 400, "WholesaleOrder": 200}

# What the 2025-01-15 batch will add. Adding them validates every existing row, so on a
# database they can all be added to, the data satisfies them.
CONSTRAINTS = {
    "recipe_item_recipe_fk": 'ALTER TABLE "RecipeItem" ADD FOREIGN KEY ("recipeId") REFERENCES "Recipe" ("id")',
    "recipe_item_ingredient_fk": 'ALTER TABLE "RecipeItem" ADD FOREIGN KEY ("ingredientId") REFERENCES "Ingredient" ("id")',
    "recipe_section_recipe_fk": 'ALTER TABLE "RecipeSection" ADD FOREIGN KEY ("recipeId") REFERENCES "Recipe" ("id")',
    "recipe_item_section_fk": 'ALTER TABLE "RecipeItem" ADD FOREIGN KEY ("sectionId") REFERENCES "RecipeSection" ("id")',
    "company_owner_fk": 'ALTER TABLE "Company" ADD FOREIGN KEY ("ownerId") REFERENCES "User" ("id")',
    "plan_created_by_fk": 'ALTER TABLE "ProductionPlan" ADD FOREIGN KEY ("createdBy") REFERENCES "User" ("id")',
    "task_assigned_to_fk": 'ALTER TABLE "ProductionTask" ADD FOREIGN KEY ("assignedTo") REFERENCES "User" ("id")',
    "movement_created_by_fk": 'ALTER TABLE "InventoryMovement" ADD FOREIGN KEY ("createdBy") REFERENCES "User" ("id")',
    "recipe_price_check": 'ALTER TABLE "Recipe" ADD CHECK ("sellingPrice" > 0)',
    "ingredient_price_check": 'ALTER TABLE "Ingredient" ADD CHECK ("packPrice" > 0)',
    "recipe_yield_check": 'ALTER TABLE "Recipe" ADD CHECK ("yieldQuantity" > 0)',
    "recipe_item_quantity_check": 'ALTER TABLE "RecipeItem" ADD CHECK ("quantity" > 0)',
    "recipe_item_unique": 'CREATE UNIQUE INDEX ON "RecipeItem" ("recipeId", "ingredientId")',
    "recipe_section_unique": 'CREATE UNIQUE INDEX ON "RecipeSection" ("recipeId", "order")',
    # Not in the batch, but how to prove the data's own promises with the server's help:
    # a set sectionId names a section of the same recipe; a legacy category names a Category
    # of the same company (the backfill of categoryId relies on it).
    "recipe_item_section_same_recipe": 'CREATE UNIQUE INDEX ON "RecipeSection" ("id", "recipeId"); '
                                       'ALTER TABLE "RecipeItem" ADD FOREIGN KEY ("sectionId", "recipeId") '
                                       'REFERENCES "RecipeSection" ("id", "recipeId")',
    "recipe_category_known": 'ALTER TABLE "Recipe" ADD FOREIGN KEY ("companyId", "category") '
                             'REFERENCES "Category" ("companyId", "name")',
}

# One direct query per defect, counting the bad rows it stands for; expected count when injected.
DEFECT_CHECKS = {
    "orphan_recipe_items": ('SELECT count(*) FROM "RecipeItem" AS ri '
                            'WHERE NOT EXISTS (SELECT FROM "Recipe" AS r WHERE r."id" = ri."recipeId")', 5),
    "orphan_recipe_sections": ('SELECT count(*) FROM "RecipeSection" AS s '
                               'WHERE NOT EXISTS (SELECT FROM "Recipe" AS r WHERE r."id" = s."recipeId")', 4),
    "orphan_ingredient_refs": ('SELECT count(*) FROM "RecipeItem" AS ri '
                               'WHERE NOT EXISTS (SELECT FROM "Ingredient" AS i WHERE i."id" = ri."ingredientId")', 5),
    "orphan_user_refs": (
        'SELECT (SELECT count(*) FROM "Company" AS t WHERE NOT EXISTS (SELECT FROM "User" AS u WHERE u."id" = t."ownerId"))'
        ' + (SELECT count(*) FROM "ProductionPlan" AS t WHERE NOT EXISTS (SELECT FROM "User" AS u WHERE u."id" = t."createdBy"))'
        ' + (SELECT count(*) FROM "InventoryMovement" AS t WHERE NOT EXISTS (SELECT FROM "User" AS u WHERE u."id" = t."createdBy"))'
        ' + (SELECT count(*) FROM "ProductionTask" AS t WHERE t."assignedTo" IS NOT NULL'
        '    AND NOT EXISTS (SELECT FROM "User" AS u WHERE u."id" = t."assignedTo"))', 6),
    "duplicate_recipe_items": ('SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM "RecipeItem" '
                               'GROUP BY "recipeId", "ingredientId" HAVING count(*) > 1) AS d', 5),
    "duplicate_recipe_sections": ('SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM "RecipeSection" '
                                  'GROUP BY "recipeId", "order" HAVING count(*) > 1) AS d', 4),
    "nonpositive_prices": ('SELECT (SELECT count(*) FROM "Recipe" WHERE "sellingPrice" <= 0)'
                           ' + (SELECT count(*) FROM "Ingredient" WHERE "packPrice" <= 0)', 6),
    "nonpositive_quantities": ('SELECT (SELECT count(*) FROM "RecipeItem" WHERE "quantity" <= 0)'
                               ' + (SELECT count(*) FROM "Recipe" WHERE "yieldQuantity" <= 0)', 5),
    "unmapped_categories": ('SELECT count(*) FROM "Recipe" AS r WHERE r."category" IS NOT NULL AND NOT EXISTS '
                            '(SELECT FROM "Category" AS c WHERE c."companyId" = r."companyId" AND c."name" = r."category")', 5),
}

# Which of the constraints each defect must make impossible to add.
DEFECT_BREAKS = {
    "orphan_recipe_items": ["recipe_item_recipe_fk"],
    "orphan_recipe_sections": ["recipe_section_recipe_fk"],
    "orphan_ingredient_refs": ["recipe_item_ingredient_fk"],
    "orphan_user_refs": ["company_owner_fk", "plan_created_by_fk", "task_assigned_to_fk", "movement_created_by_fk"],
    "duplicate_recipe_items": ["recipe_item_unique"],
    "duplicate_recipe_sections": ["recipe_section_unique"],
    "nonpositive_prices": ["recipe_price_check", "ingredient_price_check"],
    "nonpositive_quantities": ["recipe_yield_check", "recipe_item_quantity_check"],
    "unmapped_categories": ["recipe_category_known"],
}


@pytest.fixture(scope="module")
def clean_db(prod_cluster) -> Target:
    """One database loaded at SCALE without defects, shared by the read-only tests."""
    dbname = "sample_app_clean"
    with prod_cluster.target().connect("tests", guards=None) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    target = prod_cluster.target(dbname)
    sample_app.load(target, SCALE)
    yield target
    with prod_cluster.target().connect("tests", guards=None) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


@pytest.fixture
def clean_conn(clean_db):
    with clean_db.connect("tests", guards=None) as conn:
        yield conn


def _scalar(conn: psycopg.Connection, query, params=None):
    return conn.execute(query, params).fetchone()[0]


def _defect_counts(conn: psycopg.Connection) -> dict[str, int]:
    return {name: _scalar(conn, check) for name, (check, _) in DEFECT_CHECKS.items()}


def _constraint_error(conn: psycopg.Connection, name: str) -> psycopg.Error | None:
    """Try to add one constraint, always rolling back; the error if the data violates it."""
    try:
        with conn.transaction(force_rollback=True):
            for statement in split_statements(CONSTRAINTS[name]):
                conn.execute(statement)
    except psycopg.errors.IntegrityError as exc:
        return exc
    return None


def test_table_names_follow_schema_sql():
    names = sample_app.table_names()
    assert len(names) == 15 and set(names) == set(PER_COMPANY)
    assert names[:3] == ("User", "Company", "Membership") and names[-1] == "WholesaleOrder"


def test_companies_follow_the_scale():
    assert [sample_app.companies(s) for s in (0.001, 0.01, 0.02, 0.1, 1, 5)] == [1, 1, 1, 5, 50, 250]
    with pytest.raises(ValueError):
        sample_app.companies(0)


def test_sizes_follow_the_scale(clean_conn):
    n = sample_app.companies(SCALE)
    assert sample_app.row_counts(clean_conn) == {t: k * n for t, k in PER_COMPANY.items()}
    unread = _scalar(clean_conn, 'SELECT avg((NOT "read")::int) FROM "Notification"')
    assert 0.28 < unread < 0.38
    statuses = clean_conn.execute('SELECT DISTINCT "status" FROM "WholesaleOrder"').fetchall()
    assert {s for (s,) in statuses} == set(sample_app.ORDER_STATUSES)
    no_category, no_price, with_category_id = clean_conn.execute(
        'SELECT count(*) FILTER (WHERE "category" IS NULL), count(*) FILTER (WHERE "sellingPrice" IS NULL), '
        'count("categoryId") FROM "Recipe"').fetchone()
    assert no_category == 10 * n and 0 < no_price < 10 * n and with_category_id == 0


def test_sequences_continue_after_the_generated_ids(clean_conn):
    for table in sample_app.table_names():
        last, max_id = clean_conn.execute(
            sql.SQL("SELECT (SELECT last_value FROM pg_sequences WHERE sequencename = {}), max(id) FROM {}")
            .format(sql.Literal(f"{table}_id_seq"), sql.Identifier(table))).fetchone()
        assert last == max_id, table


def _fingerprints(target: Target) -> dict[str, str]:
    with target.connect("tests", guards=None) as conn:
        return {table: _scalar(conn, sql.SQL("SELECT md5(string_agg(t::text, E'\\n' ORDER BY t.id)) FROM {} AS t")
                               .format(sql.Identifier(table)))
                for table in sample_app.table_names()}


def test_same_scale_gives_identical_data(clean_db, prod_db):
    sample_app.load(prod_db, SCALE)
    assert _fingerprints(prod_db) == _fingerprints(clean_db)


def test_clean_data_satisfies_what_the_batch_will_add(clean_conn):
    with clean_conn.transaction(force_rollback=True):
        for statement in split_statements(";\n".join(CONSTRAINTS.values())):
            clean_conn.execute(statement)
    foreign_ingredients = _scalar(clean_conn, (
        'SELECT count(*) FROM "RecipeItem" AS ri JOIN "Recipe" AS r ON r."id" = ri."recipeId" '
        'JOIN "Ingredient" AS i ON i."id" = ri."ingredientId" WHERE i."companyId" <> r."companyId"'))
    assert foreign_ingredients == 0
    assert _defect_counts(clean_conn) == dict.fromkeys(sample_app.DEFECTS, 0)


def test_every_defect_has_a_check():
    assert set(DEFECT_CHECKS) == set(DEFECT_BREAKS) == set(sample_app.DEFECTS)


@pytest.mark.parametrize("defect", sample_app.DEFECTS)
def test_defect_is_found_and_breaks_only_its_constraints(prod_db, defect):
    sample_app.load(prod_db, DEFECT_SCALE, defects=[defect])
    with prod_db.connect("tests", guards=None) as conn:
        expected = {name: (count if name == defect else 0) for name, (_, count) in DEFECT_CHECKS.items()}
        assert _defect_counts(conn) == expected
        for name in CONSTRAINTS:
            error = _constraint_error(conn, name)
            assert (error is not None) == (name in DEFECT_BREAKS[defect]), (name, error)
        sample_app.inject_defects(conn, [defect])  # a second injection changes nothing
        assert _defect_counts(conn) == expected


def test_all_defects_together_are_each_found(prod_db):
    sample_app.load(prod_db, DEFECT_SCALE, defects=sample_app.DEFECTS)
    with prod_db.connect("tests", guards=None) as conn:
        assert _defect_counts(conn) == {name: count for name, (_, count) in DEFECT_CHECKS.items()}


def test_unknown_defect_is_refused_with_the_valid_names(clean_conn):
    with pytest.raises(ValueError, match="orphan_recipe_items.*unmapped_categories"):
        sample_app.inject_defects(clean_conn, ["orphan_recipe_items", "no_such_defect"])
    assert _defect_counts(clean_conn)["orphan_recipe_items"] == 0  # nothing half-injected


def test_every_query_runs_with_its_params(clean_conn):
    queries = sample_app.top_queries()
    assert len(queries) == 12  # 10 reads, 2 writes
    writes = 0
    for name, query in queries.items():
        for i in range(5):
            cur = clean_conn.execute(query, sample_app.query_params(name, i, SCALE))
            if cur.description is None:  # a write: it must hit the row its parameters name
                assert cur.rowcount == 1, name
                writes += 1
            else:
                assert cur.fetchall(), name
    assert writes == 10
    assert sample_app.query_params("recipe_list", 7, SCALE) == sample_app.query_params("recipe_list", 7, SCALE)


def _query_id(conn: psycopg.Connection, query: str, params: dict) -> int:
    plan = _scalar(conn, "EXPLAIN (VERBOSE, FORMAT JSON) " + query, params)
    return plan[0]["Query Identifier"]


def test_workload_runs_every_query_and_pg_stat_statements_sees_them(clean_db, clean_conn):
    clean_conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    db_oid = _scalar(clean_conn, "SELECT oid FROM pg_database WHERE datname = current_database()")
    # EXPLAIN runs the executor's start and end, which pg_stat_statements counts as a call:
    # take the query ids first, then start counting from zero.
    query_ids = {name: _query_id(clean_conn, query, sample_app.query_params(name, 0, SCALE))
                 for name, query in sample_app.top_queries().items()}
    clean_conn.execute("SELECT pg_stat_statements_reset(0, %s, 0)", [db_oid])

    stats = run_workload(clean_db, iterations=3, clients=2, scale=SCALE)

    assert stats.errors == 0, {n: q.first_error for n, q in stats.queries.items() if q.errors}
    assert set(stats.queries) == set(sample_app.top_queries())
    for name, q in stats.queries.items():
        assert q.calls == 6 and 0 < q.mean_ms <= q.p99_ms <= q.max_ms, name
    assert stats.calls == 72
    for name, query_id in query_ids.items():
        calls = _scalar(clean_conn, "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                                    "WHERE dbid = %s AND queryid = %s", [db_oid, query_id])
        assert calls == 6, name


def test_workload_counts_errors_instead_of_raising(prod_db):
    stats = run_workload(prod_db, iterations=2)  # an empty database: every query fails
    assert stats.errors == stats.calls == 24
    assert all('does not exist' in q.first_error for q in stats.queries.values())


def test_workload_command_line_prints_a_table(clean_db, capsys):
    status = workload_main(["--dsn", clean_db.conninfo(), "--iterations", "1", "--clients", "2",
                            "--scale", str(SCALE)])
    out = capsys.readouterr().out
    assert status == 0
    assert all(name in out for name in sample_app.top_queries()) and "total" in out
