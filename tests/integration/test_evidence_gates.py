"""The evidence gates against real clusters, each with a case that fails it and one that
passes: extensions, privileges, preconditions, schema drift, contracts."""

from __future__ import annotations

import dataclasses
import secrets

import pytest
from psycopg import sql

import sample_app
from gonogo.batch import load_batch
from gonogo.gates.contracts import contracts
from gonogo.gates.extensions import extensions
from gonogo.gates.preconditions import preconditions
from gonogo.gates.privileges import privileges
from gonogo.gates.schema_drift import schema_drift
from gonogo.results import Verdict
from gonogo.apply.steps import apply_steps
from helpers import copy_batch

SCALE = 0.02
BATCH = load_batch("20250115_recipe_fixes")
STEP = {s.order: s for s in BATCH.steps}


def quiet(_):
    pass


@pytest.fixture
def app(prod_db):
    sample_app.load(prod_db, scale=SCALE)
    with prod_db.connect("tests", guards=None) as conn:
        yield prod_db, conn


@pytest.fixture
def role(prod_cluster, app):
    """A login role that owns nothing: what a migration user often is."""
    target, conn = app
    name, password = f"migrator_{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))
    yield name, dataclasses.replace(target, user=name, password=password)
    conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
    conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


# -- extensions ---------------------------------------------------------------------------

def test_extensions_pass_when_the_batch_creates_what_it_uses(app):
    _, conn = app
    [result] = extensions(conn, BATCH)
    assert result.verdict is Verdict.PASS
    assert [row["extension"] for row in result.details] == ["pg_trgm"]


def test_extensions_fail_when_an_operator_class_needs_one_nobody_creates(app, tmp_path):
    _, conn = app
    folder = copy_batch(tmp_path)
    migration = folder / "migrations" / "20250115150000_add_performance_indexes.sql"
    text = migration.read_text()
    start, end = text.index("DO $$"), text.index("END $$;") + len("END $$;")
    migration.write_text(text[:start] + text[end:])  # the indexes stay, CREATE EXTENSION goes
    [result] = extensions(conn, load_batch(folder.name, root=folder.parent))
    assert result.verdict is Verdict.FAIL
    assert "pg_trgm" in result.message and "gin_trgm_ops" in result.message


def test_extensions_for_a_role_depend_on_trust_and_create_privilege(app, role):
    target, conn = app
    name, as_role = role
    with as_role.connect("tests") as mine:  # pg_trgm is trusted: CREATE on the database is enough
        conn.execute(sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
            sql.Identifier(target.dbname), sql.Identifier(name)))
        assert extensions(mine, BATCH)[0].verdict is Verdict.PASS
        conn.execute(sql.SQL("REVOKE CREATE ON DATABASE {} FROM {}").format(
            sql.Identifier(target.dbname), sql.Identifier(name)))
        conn.execute(sql.SQL("REVOKE CREATE ON DATABASE {} FROM PUBLIC").format(sql.Identifier(target.dbname)))
        [result] = extensions(mine, BATCH)
    assert result.verdict is Verdict.FAIL and "may not create" in result.message


# -- privileges ---------------------------------------------------------------------------

def test_privileges_pass_for_the_owner(app):
    _, conn = app
    result = privileges(conn, BATCH)
    assert result.verdict is Verdict.PASS and result.subject == "postgres"


def test_privileges_fail_for_a_role_that_owns_nothing_and_pass_once_it_may(app, role):
    _, conn = app
    name, as_role = role
    with as_role.connect("tests") as mine:
        result = privileges(mine, BATCH)
        assert result.verdict is Verdict.FAIL
        missing = {(row["needs"], row["on"]) for row in result.details if not row["ok"]}
        assert ("own", "RecipeItem") in missing and ("references", "User") in missing
        assert "20250115120000_add_composite_unique_constraints line 10: own on RecipeItem" in result.message
        # owning through the owning role's membership is enough
        conn.execute(sql.SQL("GRANT postgres TO {}").format(sql.Identifier(name)))
        assert privileges(mine, BATCH).verdict is Verdict.PASS
    conn.execute(sql.SQL("REVOKE postgres FROM {}").format(sql.Identifier(name)))


# -- preconditions --------------------------------------------------------------------------

def test_preconditions_name_the_duplicates_a_unique_key_would_reject(prod_db):
    sample_app.load(prod_db, scale=SCALE, defects=["duplicate_recipe_items"])
    with prod_db.connect("tests", guards=None) as conn:
        [result] = preconditions(conn, STEP[1], phase="dry_run")
        dupes = conn.execute('SELECT "recipeId", "ingredientId", count(*) FROM "RecipeItem" '
                             'GROUP BY 1, 2 HAVING count(*) > 1 ORDER BY 1, 2').fetchall()
    assert result.verdict is Verdict.FAIL
    [row] = [r for r in result.details if r["count"]]
    assert row["table"] == "RecipeItem" and row["count"] == sum(n for _, _, n in dupes)
    assert row["examples"][0] == f"(recipeId, ingredientId) = ({dupes[0][0]},{dupes[0][1]})"


def test_preconditions_name_rows_a_check_would_reject(prod_db):
    sample_app.load(prod_db, scale=SCALE, defects=["nonpositive_prices"])
    with prod_db.connect("tests", guards=None) as conn:
        [result] = preconditions(conn, STEP[3], phase="dry_run")
        bad_recipes = [str(r[0]) for r in conn.execute(
            'SELECT "id" FROM "Recipe" WHERE "sellingPrice" <= 0 ORDER BY "id"::text')]
    assert result.verdict is Verdict.FAIL
    by_check = {r["check"]: r for r in result.details}
    assert by_check["check recipe_selling_price_positive"]["count"] == len(bad_recipes) > 0
    assert by_check["check recipe_selling_price_positive"]["examples"] == [f"key {i}" for i in bad_recipes[:5]]
    assert by_check["check ingredient_pack_price_positive"]["count"] > 0
    assert by_check["check recipe_item_quantity_positive"]["count"] == 0


def test_preconditions_run_the_steps_own_precheck(prod_db):
    sample_app.load(prod_db, scale=SCALE, defects=["unmapped_categories"])
    with prod_db.connect("tests", guards=None) as conn:
        [result] = preconditions(conn, STEP[5], phase="dry_run")
        unmapped = conn.execute('SELECT count(*) FROM "Recipe" r WHERE r.category IS NOT NULL AND NOT EXISTS '
                                '(SELECT 1 FROM "Category" c WHERE c."companyId" = r."companyId" '
                                'AND c.name = r.category)').fetchone()[0]
    assert result.verdict is Verdict.FAIL
    assert result.details[0]["count"] == unmapped > 0 and result.details[0]["table"] == "Recipe"


def test_a_step_whose_preconditions_fail_is_not_run(prod_db):
    sample_app.load(prod_db, scale=SCALE, defects=["duplicate_recipe_items"])
    with prod_db.connect("tests", guards=None) as conn:
        run = apply_steps(conn, [STEP[1]], phase="dry_run", live_traffic=False, log=quiet,
                          check_preconditions=True)
        built = conn.execute("SELECT count(*) FROM pg_class WHERE relname = "
                             "'RecipeItem_recipeId_ingredientId_key'").fetchone()[0]
    assert run.failed_step == STEP[1].name
    assert [r.gate for r in run.results] == ["preconditions"]
    assert built == 0  # not even the index build was started


def test_preconditions_pass_on_clean_data_right_before_each_step(app):
    _, conn = app
    run = apply_steps(conn, list(BATCH.enabled_steps), phase="dry_run", live_traffic=False, log=quiet,
                      check_preconditions=True)
    assert run.ok
    checked = [r for r in run.results if r.gate == "preconditions"]
    # steps 1, 3, 5 and 6 add what can be checked; the cutover's CHECK passes only after the backfill
    assert [r.subject for r in checked] == [STEP[i].name for i in (1, 3, 5, 6)]
    assert all(r.verdict is Verdict.PASS for r in checked)


# -- schema drift ------------------------------------------------------------------------------

def test_no_drift_on_the_schema_the_batch_expects(app, staging_cluster):
    _, conn = app
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")  # extensions are not drift
    [result] = schema_drift(conn, staging_cluster.target(), BATCH)
    assert result.verdict is Verdict.PASS


def test_drift_is_a_readable_diff(app, staging_cluster):
    _, conn = app
    conn.execute('ALTER TABLE "Recipe" ADD COLUMN "archived" boolean; DROP INDEX "RecipeItem_recipeId_idx"')
    [result] = schema_drift(conn, staging_cluster.target(), BATCH)
    assert result.verdict is Verdict.FAIL
    diff = [row["diff"] for row in result.details]
    assert '+ column public."Recipe".archived: boolean' in diff
    assert any(line.startswith('- index public."RecipeItem_recipeId_idx"') for line in diff)
    assert len(diff) == 2


def test_drift_is_absent_without_an_expected_schema(app, staging_cluster):
    _, conn = app
    assert schema_drift(conn, staging_cluster.target(), dataclasses.replace(BATCH, expected_schema=None)) == []


# -- contracts ---------------------------------------------------------------------------------

def test_contracts_hold_before_and_after_every_step_and_leave_no_trace(app):
    _, conn = app
    counts = sample_app.row_counts(conn)
    [before] = contracts(conn, BATCH, [], phase="dry_run", subject="baseline")
    assert before.verdict is Verdict.PASS and [r["contract"] for r in before.details] == ["recipe_flow"]
    applied = []
    for step in BATCH.enabled_steps:
        assert apply_steps(conn, [step], phase="dry_run", live_traffic=False, log=quiet).ok
        applied.append(step.name)
        [result] = contracts(conn, BATCH, applied, phase="dry_run", subject=step.name)
        assert result.verdict is Verdict.PASS, result.message
    assert len(result.details) == 6
    assert sample_app.row_counts(conn) == counts  # every contract ran in a rolled-back transaction


def test_a_contract_fails_when_the_database_does_not_enforce_it(app):
    _, conn = app
    # claim step 1 is applied while it is not: the duplicates contract sees duplicates accepted
    [result] = contracts(conn, BATCH, [STEP[1].name], phase="dry_run", subject=STEP[1].name)
    assert result.verdict is Verdict.FAIL
    [broken] = [r for r in result.details if not r["passed"]]
    assert broken["contract"] == "duplicates_rejected"
    assert "duplicate (recipeId, ingredientId) was accepted" in broken["error"]
