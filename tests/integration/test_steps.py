"""apply_steps / rollback_steps on the recipe app: clean data, each defect, failing rollbacks,
and the per-step lock_timeout. Every outcome is checked in the catalog, not only in the results."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import sample_app
from gonogo.batch import Step, load_batch
from gonogo.results import Verdict
from gonogo.postgres.schema import diff, read_schema
from gonogo.postgres.statements import DbObject
from gonogo.apply.steps import apply_steps, rollback_steps
from gonogo.postgres.target import SessionGuards

SCALE = 0.1
DEFECT_SCALE = 0.02  # one company: the defects are the same few rows at any scale
BATCH = load_batch("20250115_recipe_fixes")
STEP = {s.order: s for s in BATCH.steps}


def quiet(_: str) -> None:
    pass


def state(conn, obj: DbObject) -> str:
    """missing | valid | invalid, read straight from the catalog."""
    if obj.kind == "constraint":
        row = conn.execute("SELECT convalidated FROM pg_constraint WHERE conname = %s "
                           "AND conrelid = to_regclass(quote_ident(%s))", [obj.name, obj.table]).fetchone()
    elif obj.kind == "index":
        row = conn.execute("SELECT indisvalid AND indisready FROM pg_index "
                           "WHERE indexrelid = to_regclass(quote_ident(%s))", [obj.name]).fetchone()
    elif obj.kind == "trigger":
        row = conn.execute("SELECT tgenabled <> 'D' FROM pg_trigger WHERE tgname = %s "
                           "AND tgrelid = to_regclass(quote_ident(%s))", [obj.name, obj.table]).fetchone()
    elif obj.kind == "function":
        row = conn.execute("SELECT true FROM pg_proc WHERE proname = %s", [obj.name]).fetchone()
    else:
        row = conn.execute("SELECT true FROM pg_extension WHERE extname = %s", [obj.name]).fetchone()
    return "missing" if row is None else ("valid" if row[0] else "invalid")


def by_gate(results, step: Step) -> dict[str, Verdict]:
    return {r.gate: r.verdict for r in results if r.subject == step.name}


# -- clean data ----------------------------------------------------------------------------------

def test_clean_data_applies_every_step_and_everything_is_valid(prod_db, prod_conn):
    sample_app.load(prod_db, scale=SCALE)
    steps = list(BATCH.enabled_steps)
    progress = []
    run = apply_steps(prod_conn, steps, phase="dry_run", live_traffic=False, log=quiet,
                      on_progress=lambda applied, current: progress.append((applied, current)))

    assert run.ok and run.error is None
    assert run.applied == [s.name for s in steps]
    assert [r.verdict for r in run.results] == [Verdict.PASS] * len(run.results)
    assert progress[0] == ([], steps[0].name) and progress[-1] == (run.applied, None)
    for step in steps:
        gates = by_gate(run.results, step)
        assert gates.keys() >= {"step_applied", "objects_valid", "row_counts_unchanged"}, step.name
        for obj in step.creates():
            assert state(prod_conn, obj) == "valid", (step.name, obj.label())
    assert by_gate(run.results, STEP[5])["step_verified"] is Verdict.PASS

    # Nothing half-built anywhere: no NOT VALID constraint, no invalid index.
    assert prod_conn.execute("SELECT count(*) FROM pg_constraint WHERE NOT convalidated").fetchone()[0] == 0
    assert prod_conn.execute("SELECT count(*) FROM pg_index WHERE NOT (indisvalid AND indisready)").fetchone()[0] == 0


def test_backfill_maps_every_recipe_with_a_category(prod_db, prod_conn):
    sample_app.load(prod_db, scale=SCALE)
    with_category = 'SELECT count(*) FROM "Recipe" WHERE "category" IS NOT NULL'
    unmapped_before = prod_conn.execute(with_category + ' AND "categoryId" IS NULL').fetchone()[0]
    assert unmapped_before > 0  # the backfill has work to do

    run = apply_steps(prod_conn, [STEP[5]], phase="dry_run", live_traffic=False, log=quiet)
    assert run.ok, run.error
    total, mapped_right = prod_conn.execute(
        'SELECT count(*), count(c."id") FROM "Recipe" r '
        'LEFT JOIN "Category" c ON c."id" = r."categoryId" AND c."companyId" = r."companyId" '
        '                      AND c."name" = r."category" '
        'WHERE r."category" IS NOT NULL').fetchone()
    assert total == unmapped_before and mapped_right == total
    notices = next(r for r in run.results if r.gate == "step_applied").details[-1]["notices"]
    assert notices == [f"before backfill: {total} recipes with a category and no categoryId"]


def test_dual_write_trigger_maps_rows_the_app_writes_later(prod_db, prod_conn):
    sample_app.load(prod_db, scale=DEFECT_SCALE)
    apply_steps(prod_conn, [STEP[5]], phase="dry_run", live_traffic=False, log=quiet)
    company, category_id, name = prod_conn.execute(
        'SELECT "companyId", "id", "name" FROM "Category" ORDER BY "id" LIMIT 1').fetchone()
    prod_conn.execute('INSERT INTO "Recipe" ("companyId", "name", "category") VALUES (%s, %s, %s)',
                      [company, "written by the old app", name])
    assert prod_conn.execute('SELECT "categoryId" FROM "Recipe" WHERE "name" = %s',
                             ["written by the old app"]).fetchone() == (category_id,)


# -- defects ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("defect", "failing", "sqlstate"), [
    ("duplicate_recipe_items", 1, "23505"),
    ("orphan_recipe_items", 2, "23503"),
    ("nonpositive_prices", 3, "23514"),
])
def test_a_defect_stops_the_run_at_its_step(prod_db, prod_conn, defect, failing, sqlstate):
    sample_app.load(prod_db, scale=DEFECT_SCALE, defects=[defect])
    run = apply_steps(prod_conn, list(BATCH.enabled_steps), phase="dry_run", live_traffic=False, log=quiet)

    step = STEP[failing]
    assert run.failed_step == step.name and not run.ok
    assert run.applied == [STEP[o].name for o in range(1, failing)]
    failed = [r for r in run.results if r.verdict is Verdict.FAIL]
    assert [(r.gate, r.subject) for r in failed] == [("step_applied", step.name)]
    assert f"(SQLSTATE {sqlstate})" in failed[0].message and "What to do:" in failed[0].message
    assert f"SQLSTATE {sqlstate}" in run.error
    assert {r.subject for r in run.results} == {STEP[o].name for o in range(1, failing + 1)}
    for later in (s for s in BATCH.enabled_steps if s.order > failing):
        for obj in later.creates():
            assert state(prod_conn, obj) == "missing", (later.name, obj.label())


def test_failed_unique_build_leaves_an_invalid_index_its_rollback_removes(prod_db, prod_conn):
    sample_app.load(prod_db, scale=DEFECT_SCALE, defects=["duplicate_recipe_items"])
    before = read_schema(prod_conn)
    run = apply_steps(prod_conn, [STEP[1]], phase="dry_run", live_traffic=False, log=quiet)
    assert run.failed_step == STEP[1].name
    leftover = DbObject("index", "RecipeItem_recipeId_ingredientId_key", "RecipeItem")
    assert state(prod_conn, leftover) == "invalid"  # what an interrupted CONCURRENTLY build leaves

    undone = rollback_steps(prod_conn, [STEP[1]], phase="dry_run", log=quiet)
    assert undone.ok and undone.applied == [STEP[1].name]
    assert state(prod_conn, leftover) == "missing"
    assert diff(before, read_schema(prod_conn)) == []


def test_unmapped_categories_fail_the_backfill_verification(prod_db, prod_conn):
    sample_app.load(prod_db, scale=DEFECT_SCALE, defects=["unmapped_categories"])
    run = apply_steps(prod_conn, list(BATCH.enabled_steps), phase="dry_run", live_traffic=False, log=quiet)  # the backfill passes: it maps what can be mapped

    step = STEP[5]
    assert run.failed_step == step.name
    assert run.applied == [STEP[o].name for o in range(1, 5)]
    gates = by_gate(run.results, step)
    assert gates["step_applied"] is Verdict.PASS and gates["step_verified"] is Verdict.FAIL
    verified = next(r for r in run.results if r.gate == "step_verified")
    unmapped = [row[0] for row in prod_conn.execute(
        'SELECT "id" FROM "Recipe" WHERE "category" IS NOT NULL AND "categoryId" IS NULL ORDER BY "id"')]
    assert len(unmapped) == 5
    assert verified.details == [{"problem": "Recipe rows with a category and no categoryId",
                                 "rows": len(unmapped), "examples": unmapped[:5]}]
    assert verified.value == "1 problem rows"
    assert state(prod_conn, STEP[6].creates()[0]) == "missing"  # the cutover never ran


# -- rollbacks and lock_timeout on small batches of their own --------------------------------------

def make_batch(root: Path, steps: list[dict], batch_id: str = "tmp_batch"):
    """A batch folder under root: steps are dicts with forward, rollback and manifest extras."""
    folder = root / batch_id
    (folder / "migrations").mkdir(parents=True)
    (folder / "rollbacks").mkdir()
    entries = []
    for order, spec in enumerate(steps, start=1):
        name = f"{order:03d}_{spec['name']}"
        (folder / "migrations" / f"{name}.sql").write_text(spec["forward"])
        (folder / "rollbacks" / f"{name}_rollback.sql").write_text(spec["rollback"])
        entries.append({"order": order, "file": f"migrations/{name}.sql",
                        "rollback": f"rollbacks/{name}_rollback.sql", "kind": "schema",
                        **spec.get("manifest", {})})
    (folder / "manifest.yaml").write_text(yaml.safe_dump({"id": batch_id, "title": "test", "steps": entries}))
    return load_batch(batch_id, root=root)


def test_rollback_stops_at_the_first_failing_rollback(prod_conn, tmp_path):
    batch = make_batch(tmp_path, [
        {"name": "one", "forward": "CREATE TABLE one (a int);", "rollback": "DROP TABLE one;"},
        {"name": "two", "forward": "CREATE TABLE two (a int);", "rollback": "DROP TABLE two;\nDROP TABLE gone;"},
        {"name": "three", "forward": "CREATE TABLE three (a int);", "rollback": "DROP TABLE three;"},
    ])
    assert apply_steps(prod_conn, list(batch.steps), phase="dry_run", live_traffic=False, log=quiet).ok

    run = rollback_steps(prod_conn, list(batch.steps), phase="dry_run", log=quiet)
    assert run.applied == ["003_three"] and run.failed_step == "002_two"
    assert [(r.subject, r.verdict) for r in run.results] == [("003_three", Verdict.PASS), ("002_two", Verdict.FAIL)]
    failed = run.results[-1]
    assert failed.gate == "rollback_applied" and failed.value == "failed at line 2"
    assert "SQLSTATE 42P01" in failed.message and '"gone"' in failed.message
    tables = {r[0] for r in prod_conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables == {"one"}  # three undone; two's own DROP TABLE ran; one's rollback never started


def test_step_lock_timeout_is_applied_and_restored(prod_db, tmp_path):
    def record(label: str) -> str:
        return f"CREATE TABLE seen_{label} AS SELECT current_setting('lock_timeout') AS value;"

    batch = make_batch(tmp_path, [
        {"name": "patient", "manifest": {"lock_timeout": "1234ms"},
         "forward": record("apply"), "rollback": record("rollback")},
        {"name": "default", "forward": record("next"), "rollback": "SELECT 1;"},
        {"name": "failing", "manifest": {"lock_timeout": "7s"},
         "forward": record("failing") + "\nSELECT 1 / 0;", "rollback": "SELECT 1;"},
    ])
    assert batch.steps[0].lock_timeout == "1234ms"
    with prod_db.connect("tests/steps", guards=SessionGuards(lock_timeout="3s")) as conn:
        run = apply_steps(conn, list(batch.steps), phase="dry_run", live_traffic=False, log=quiet)
        assert run.failed_step == "003_failing"
        assert conn.execute("SELECT current_setting('lock_timeout')").fetchone()[0] == "3s"
        assert rollback_steps(conn, list(batch.steps[:1]), phase="dry_run", log=quiet).ok
        assert conn.execute("SELECT current_setting('lock_timeout')").fetchone()[0] == "3s"
        seen = {label: conn.execute(f"SELECT value FROM seen_{label}").fetchone()[0]
                for label in ("apply", "next", "failing", "rollback")}
    assert seen == {"apply": "1234ms", "next": "3s", "failing": "7s", "rollback": "1234ms"}


def test_row_counts_gate_sees_lost_rows_but_not_new_tables(prod_conn, tmp_path):
    prod_conn.execute("CREATE TABLE keep (a int); INSERT INTO keep SELECT generate_series(1, 10);"
                      "CREATE TABLE doomed (a int); INSERT INTO doomed VALUES (1)")
    batch = make_batch(tmp_path, [
        {"name": "new_table", "forward": "CREATE TABLE fresh AS SELECT a FROM keep;", "rollback": "DROP TABLE fresh;"},
        {"name": "lossy", "forward": "DELETE FROM keep WHERE a > 7;\nDROP TABLE doomed;", "rollback": "SELECT 1;"},
    ])
    new_table, lossy = batch.steps
    run = apply_steps(prod_conn, [new_table], phase="dry_run", live_traffic=False, log=quiet)
    assert run.ok and by_gate(run.results, new_table)["row_counts_unchanged"] is Verdict.PASS

    run = apply_steps(prod_conn, [lossy], phase="production", live_traffic=True, log=quiet)
    counts = next(r for r in run.results if r.gate == "row_counts_unchanged")
    assert counts.verdict is Verdict.WARN  # production: the app writes meanwhile, a human looks
    assert counts.details == [{"table": "public.doomed", "before": 1, "after": None},
                              {"table": "public.keep", "before": 10, "after": 7}]

    prod_conn.execute("INSERT INTO keep VALUES (8), (9), (10); CREATE TABLE doomed (a int); INSERT INTO doomed VALUES (1)")
    run = apply_steps(prod_conn, [lossy], phase="dry_run", live_traffic=False, log=quiet)
    assert run.failed_step == lossy.name  # staging: nothing else writes, so lost rows are a FAIL
    assert by_gate(run.results, lossy)["row_counts_unchanged"] is Verdict.FAIL


def test_a_one_transaction_files_count_is_its_own_statements(prod_conn, tmp_path):
    """A one-line migration run in one transaction (as Prisma runs a file) ran "1 statement", not
    the 3 the BEGIN and COMMIT gonogo wraps it in made it read."""
    batch = make_batch(tmp_path, [
        {"name": "one", "manifest": {"mode": "transaction"}, "forward": "CREATE TABLE one (a int);",
         "rollback": "DROP TABLE one;"},
        {"name": "two", "forward": "CREATE TABLE two (a int);\nCREATE TABLE three (a int);",
         "rollback": "DROP TABLE three;\nDROP TABLE two;"}])
    assert batch.steps[0].forward.mode == "transaction"
    run = apply_steps(prod_conn, list(batch.steps), phase="dry_run", live_traffic=False, log=quiet)
    applied = {r.subject: r.value for r in run.results if r.gate == "step_applied"}
    assert applied["001_one"].startswith("1 statement in ") and applied["002_two"].startswith("2 statements in ")
    undone = rollback_steps(prod_conn, list(batch.steps), phase="dry_run", log=quiet)
    assert [r.value.split(" in ")[0] for r in undone.results if r.gate == "rollback_applied"] == \
        ["2 statements", "1 statement"]
