"""The dry run on a staging copy, end to end: the shipped batch passes with its evidence, and
deliberately bad migrations fail the lock budget and the rollback rehearsal."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import sample_app
from gonogo.rehearsal import dryrun
from gonogo.batch import load_batch
from gonogo.context import RunContext
from gonogo.results import Verdict, applied_steps, to_dicts
from gonogo.postgres.target import SessionGuards
from helpers import copy_batch

GUARDS = SessionGuards()


def quiet(_):
    pass


def by_gate(results, gate):
    return [r for r in results if r.gate == gate]


def run(target, batch, log=quiet, nodes=False):
    """The dry run in one loop, or (nodes) a step at a time as a batch's DAG runs it, the
    queries broken so far carried from node to node."""
    with target.connect("tests") as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    ctx = RunContext(batch=batch, production=target, staging=target, run_id="tests", app="tests",
                     folder=Path("/nonexistent"), guards=GUARDS)
    baseline = dryrun.capture_baseline(ctx)
    if nodes:
        applied, broken_since = [], {}
        for step in batch.steps:
            applied += dryrun.rehearse(ctx, baseline, log=log, step=step.name, broken_since=broken_since).results
    else:
        applied = dryrun.apply_all(ctx, baseline, log=log)
    rehearsed = dryrun.rehearse_rollbacks(ctx, baseline, applied_steps(to_dicts(applied)), log=log)
    return applied, rehearsed


def edit(folder, rel, old, new):
    path = folder / rel
    text = path.read_text()
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new))


def test_the_shipped_batch_passes_the_dry_run_with_its_evidence(staging_db):
    sample_app.load(staging_db, scale=0.1)
    batch = load_batch("20250115_recipe_fixes")
    applied, rehearsed = run(staging_db, batch)
    steps = [s.name for s in batch.enabled_steps]
    assert applied_steps(to_dicts(applied)) == steps
    for gate in ("lock_budget", "lock_waits", "query_latency", "step_applied", "objects_valid"):
        assert [r.subject for r in by_gate(applied, gate)] == steps, gate
        # latency at scale 0.1 on a busy 2-core machine: a WARN is for the approver, never a stop
        allowed = (Verdict.PASS, Verdict.WARN) if gate == "query_latency" else (Verdict.PASS,)
        assert all(r.verdict in allowed for r in by_gate(applied, gate)), [
            (r.subject, r.verdict.value, r.value, r.message) for r in by_gate(applied, gate) if r.verdict not in allowed]
    assert all(r.verdict is Verdict.PASS for r in by_gate(applied, "contract_tests"))
    assert [r.verdict for r in by_gate(rehearsed, "rollback_rehearsal")] == [Verdict.PASS, Verdict.PASS]
    assert len(by_gate(rehearsed, "rollback_applied")) == len(steps)
    # the lock trace saw the locks a DBA expects: a brief ACCESS EXCLUSIVE for NOT VALID,
    # SHARE UPDATE EXCLUSIVE (never an app-blocking mode) for the CONCURRENTLY builds
    [checks] = [r for r in by_gate(applied, "lock_budget") if r.subject == steps[2]]
    assert {("Recipe" in d["relation"], d["mode"]) for d in checks.details} >= {(True, "ACCESS EXCLUSIVE")}
    [indexes] = [r for r in by_gate(applied, "lock_budget") if r.subject == steps[3]]
    assert indexes.details and not [d for d in indexes.details if d["blocks_app"]]


@pytest.fixture(scope="module")
def scale_one(staging_cluster):
    """The recipe app at scale 1 once, copied per test with CREATE DATABASE ... TEMPLATE."""
    from helpers import create_database, drop_database

    template = create_database(staging_cluster, "dryrun_template")
    sample_app.load(template, scale=1.0)
    with template.connect("tests", guards=None) as conn:  # a large table: SalesRecord x 10
        conn.execute('INSERT INTO "SalesRecord" ("companyId", "recipeId", "date", "quantity", "revenue") '
                     'SELECT "companyId", "recipeId", "date" + g * interval \'1 day\', "quantity", "revenue" '
                     'FROM "SalesRecord", generate_series(1, 9) g')
        conn.execute('VACUUM ANALYZE "SalesRecord"')
    yield template
    drop_database(staging_cluster, template.dbname)


@pytest.fixture
def big_staging(staging_cluster, scale_one):
    from helpers import create_database, drop_database

    target = create_database(staging_cluster, "dryrun_copy", name="staging", template=scale_one)
    yield target
    drop_database(staging_cluster, target.dbname)


def test_an_index_built_without_concurrently_on_a_large_table_exceeds_the_lock_budget(big_staging, tmp_path):
    """The seed's step 4 with one CONCURRENTLY left out: the index on the million-row SalesRecord
    is built under SHARE, which blocks every write to the table for the whole build."""
    folder = copy_batch(tmp_path)
    edit(folder, "migrations/20250115150000_add_performance_indexes.sql",
         "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_sales_record_analytics",
         "CREATE INDEX IF NOT EXISTS idx_sales_record_analytics")
    manifest = yaml.safe_load((folder / "manifest.yaml").read_text())
    manifest["thresholds"].update(lock_budget_seconds=0.2)
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    batch = load_batch(folder.name, root=folder.parent)

    applied, _ = run(big_staging, batch)

    budget = {r.subject: r for r in by_gate(applied, "lock_budget")}
    waits = {r.subject: r for r in by_gate(applied, "lock_waits")}
    indexes = batch.steps[3].name
    assert budget[indexes].verdict is Verdict.FAIL
    assert 'SHARE on "SalesRecord"' in budget[indexes].message and "line 34" in budget[indexes].message
    # every step written the safe way holds what blocks the app a fraction of that time (on a quiet
    # machine within the same 0.2 s budget; a busy one stretched a brief ACCESS EXCLUSIVE to 0.21 s)
    def longest(step):
        return max((d["held_seconds"] for d in budget[step].details if d["blocks_app"] and d["held_seconds"]),
                   default=0.0)
    build = longest(indexes)
    for step in batch.enabled_steps:
        if step.name != indexes:
            assert longest(step.name) < build / 3, (budget[step.name].message, build)
    # SHARE blocks writes, not reads: the app's reads of SalesRecord did not wait
    assert waits[indexes].verdict is Verdict.PASS


def test_a_rollback_that_forgets_an_index_fails_the_rehearsal(staging_db, tmp_path):
    sample_app.load(staging_db, scale=0.05)
    folder = copy_batch(tmp_path)
    edit(folder, "rollbacks/20250115150000_add_performance_indexes_rollback.sql",
         "DROP INDEX CONCURRENTLY IF EXISTS idx_notification_unread;\n", "")
    batch = load_batch(folder.name, root=folder.parent)

    _, rehearsed = run(staging_db, batch)

    restored, again = by_gate(rehearsed, "rollback_rehearsal")
    assert restored.verdict is Verdict.FAIL
    assert [d["diff"] for d in restored.details] == [
        next(d["diff"] for d in restored.details if "idx_notification_unread" in d["diff"])]
    assert restored.details[0]["diff"].startswith("+ index public.idx_notification_unread")
    assert again.verdict is Verdict.PASS  # IF NOT EXISTS: the leftover index does not stop a re-apply


def test_the_report_of_a_real_dry_run_reads_verdict_gates_locks_chart_lint(staging_db, tmp_path):
    """The HTML report from a real dry run whose lock budget (1 ms) the DDL's brief locks exceed."""
    from collections import Counter

    from gonogo.lint import lint_batch
    from gonogo.reporting.report import RunInfo, write_reports
    from report_page import SECTIONS, ReportPage

    sample_app.load(staging_db, scale=0.05)
    folder = copy_batch(tmp_path)
    manifest = yaml.safe_load((folder / "manifest.yaml").read_text())
    manifest["thresholds"].update(lock_budget_seconds=0.001)
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    batch = load_batch(folder.name, root=folder.parent)
    applied, rehearsed = run(staging_db, batch)
    results = [*lint_batch(batch), *applied, *rehearsed]

    info = RunInfo(dag_id="gonogo_rollout", run_id="tests", batch_id=batch.id, batch_title=batch.title)
    page = ReportPage(Path(write_reports(tmp_path, info, batch, results)["html"]).read_text())

    assert page.sections == list(SECTIONS)  # verdict, Decision Gate, gates, locks, chart, lint, details
    assert page.word == "NO-GO"
    over = {(r.subject, d["relation"]) for r in by_gate(results, "lock_budget") for d in r.details
            if d["blocks_app"] and d["held_seconds"] > 0.001}
    assert over and all(r.failed for r in by_gate(results, "lock_budget") if r.subject in {s for s, _ in over})
    assert len(page.flagged_rows["locks"]) == len(over)  # one flagged row per step and relation
    # before the batch and after the dry run: two bars per query, each query named on its axis
    queries = [q.name for q in batch.queries]
    latency = [bar.rsplit("--", 1)[1] for bar in page.bars if bar.startswith("bar--latency--")]
    assert Counter(latency) == {name: 2 for name in queries}
    assert set(queries) <= set(page.svg_texts)
    assert list(page.not_measured) == ["latency"]  # only the watch window, which comes after production
    assert len(page.not_measured["latency"]) == 1


def test_a_hidden_whole_table_update_is_named_by_the_dry_run_and_foreign_keys_name_both_tables(staging_db, tmp_path):
    sample_app.load(staging_db, scale=0.05)
    folder = copy_batch(tmp_path)
    checks = "migrations/20250115140000_add_check_constraints.sql"
    hidden = 'UPDATE "Recipe" SET "name" = btrim("name") WHERE "name" IS NOT NULL;\n'  # every row has a name
    (folder / checks).write_text((folder / checks).read_text() + "\n" + hidden)
    batch = load_batch(folder.name, root=folder.parent)
    steps = [s.name for s in batch.enabled_steps]
    with staging_db.connect("tests", guards=None) as conn:
        recipes = conn.execute('SELECT count(*) FROM "Recipe"').fetchone()[0]

    applied, _ = run(staging_db, batch)

    [named] = [r for r in by_gate(applied, "whole_table_write") if r.subject == steps[2]]
    assert named.verdict is Verdict.WARN
    assert f"{recipes} of {recipes} rows of \"Recipe\"" in named.message and "COMMITs each batch" in named.hint
    [row] = [d for d in named.details if d["whole_table"]]
    assert row["statement"].startswith('UPDATE "Recipe"') and row["rows"] == row["table_rows"] == recipes
    # the foreign-key step locks each referenced table too, and names it as such
    [fks] = [r for r in by_gate(applied, "lock_budget") if r.subject == steps[1]]
    referenced = {d["relation"] for d in fks.details if d["role"].startswith("the referenced table")}
    assert {'"Recipe"', '"User"'} <= referenced


def _three_step_batch(root: Path) -> Path:
    """A batch of 3 steps on a small table; step 1 renames the column the app's lookup reads."""
    folder = root / "three_steps"
    files = {
        "migrations/s1_rename.sql": 'ALTER TABLE item RENAME COLUMN label TO title;\n',
        "rollbacks/s1_rename_rollback.sql": 'ALTER TABLE item RENAME COLUMN title TO label;\n',
        "migrations/s2_index.sql": "CREATE INDEX CONCURRENTLY IF NOT EXISTS item_price ON item (price);\n",
        "rollbacks/s2_index_rollback.sql": "DROP INDEX CONCURRENTLY IF EXISTS item_price;\n",
        "migrations/s3_column.sql": "ALTER TABLE item ADD COLUMN IF NOT EXISTS note text;\n",
        "rollbacks/s3_column_rollback.sql": "ALTER TABLE item DROP COLUMN IF EXISTS note;\n",
        "queries.sql": "-- name: item_label\nSELECT label FROM item WHERE id = %(id)s;\n"
                       "-- name: item_price\nSELECT price FROM item WHERE id = %(id)s;\n",
        "params.yaml": "item_label: {id: 7}\nitem_price: {id: 7}\n",
    }
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    steps = [{"order": n, "file": f"migrations/{name}.sql", "rollback": f"rollbacks/{name}_rollback.sql",
              "kind": "schema"} for n, name in enumerate(("s1_rename", "s2_index", "s3_column"), start=1)]
    manifest = {"id": folder.name, "title": "three steps, the first breaks a query", "steps": steps,
                "top_queries": "queries.sql", "query_params": "params.yaml"}
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder


@pytest.mark.parametrize("nodes", [False, True], ids=["one loop", "a node per step"])
def test_a_query_broken_by_step_1_is_blamed_on_step_1_and_still_broken_after_steps_2_and_3(staging_db, tmp_path,
                                                                                           nodes):
    with staging_db.connect("tests", guards=None) as conn:
        conn.execute("CREATE TABLE item (id int PRIMARY KEY, label text, price numeric)")
        conn.execute("INSERT INTO item SELECT g, 'item ' || g, g FROM generate_series(1, 200) g")
    folder = _three_step_batch(tmp_path)
    batch = load_batch(folder.name, root=folder.parent)
    names = [s.name for s in batch.enabled_steps]

    applied, _ = run(staging_db, batch, nodes=nodes)

    latency = {r.subject: r for r in by_gate(applied, "query_latency")}
    assert list(latency) == names
    rows = {step: {d["name"]: d for d in latency[step].details} for step in names}
    # step 1 broke it: a FAIL there, naming the query and the error
    assert latency[names[0]].verdict is Verdict.FAIL
    assert rows[names[0]]["item_label"]["verdict"] == "broken"
    assert "item_label worked before this step and fails after it" in latency[names[0]].hint
    # steps 2 and 3 did not: it is still broken since step 1, and not blamed on them
    for step in names[1:]:
        row = rows[step]["item_label"]
        assert (row["verdict"], row["broken_since"]) == ("still broken", f"step 1 {names[0]}")
        assert latency[step].verdict is Verdict.WARN
        assert "worked before this step" not in latency[step].hint + latency[step].message
        assert f"item_label still broken since step 1 {names[0]}" in latency[step].message
        assert f"item_label is still broken since step 1 {names[0]}" in latency[step].hint
        assert rows[step]["item_price"]["verdict"] != "broken"


def _batch_of(root: Path, files: dict[str, str], steps: list[str]) -> object:
    """A batch in `root` of the given files, step n being migrations/<name>.sql and its rollback."""
    folder = root / "transactional"
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    manifest = {"id": folder.name, "title": "rollbacks that run in a transaction", "steps": [
        {"order": n, "file": f"migrations/{name}.sql", "rollback": f"rollbacks/{name}_rollback.sql",
         "kind": "schema"} for n, name in enumerate(steps, start=1)]}
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return load_batch(folder.name, root=root)


def _item_table(target, rows: int = 0) -> None:
    with target.connect("tests", guards=None) as conn:
        conn.execute("CREATE TABLE item (id int PRIMARY KEY, label text)")
        conn.execute("INSERT INTO item SELECT g, 'item ' || g FROM generate_series(1, %s) g", [rows])


def _state(target):
    """The columns and tables of public, and how often the backfill's UPDATE ran."""
    with target.connect("tests", guards=None) as conn:
        columns = conn.execute("SELECT table_name, column_name FROM information_schema.columns "
                               "WHERE table_schema = 'public' ORDER BY 1, 2").fetchall()
        updates = conn.execute("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                               "WHERE query LIKE 'UPDATE item SET note%'").fetchone()[0]
    return columns, updates


def test_rollbacks_that_run_in_a_transaction_are_rehearsed_in_one_rolled_back_and_the_backfill_runs_once(
        staging_db, tmp_path):
    """A column filled by a whole-table UPDATE and a new table: their rollbacks run in one
    transaction that is rolled back; staging keeps the batch without applying it again."""
    _item_table(staging_db, rows=2000)
    batch = _batch_of(tmp_path, {
        "migrations/s1_note.sql": "ALTER TABLE item ADD COLUMN note text;\nUPDATE item SET note = label;\n",
        "rollbacks/s1_note_rollback.sql": "ALTER TABLE item DROP COLUMN note;\n",
        "migrations/s2_tag.sql": "BEGIN;\nCREATE TABLE tag (id int PRIMARY KEY, item_id int REFERENCES item);\nCOMMIT;\n",
        "rollbacks/s2_tag_rollback.sql": "DROP TABLE tag;\n",
    }, ["s1_note", "s2_tag"])
    lines = []

    applied, rehearsed = run(staging_db, batch, log=lines.append)

    assert applied_steps(to_dicts(applied)) == ["s1_note", "s2_tag"]
    # the file's own statements, traced (its BEGIN and COMMIT are the file's: counted)
    assert [r.value.split(" in ")[0] for r in by_gate(applied, "step_applied")] == ["2 statements", "3 statements"]
    columns, updates = _state(staging_db)
    assert ("item", "note") in columns and ("tag", "item_id") in columns  # staging still holds the batch
    assert updates == 1  # the whole-table UPDATE ran once: in the apply, not again in the rehearsal
    restored, again = by_gate(rehearsed, "rollback_rehearsal")
    assert restored.verdict is Verdict.PASS and again.verdict is Verdict.PASS, (restored.message, again.message)
    assert again.value == "not applied a second time: the rollbacks were rolled back"
    assert [(r.subject, r.value.split(" in ")[0]) for r in by_gate(rehearsed, "rollback_applied")] == [
        ("s2_tag", "1 statement"), ("s1_note", "1 statement")]
    assert any("rollbacks of 2 steps in one transaction, rolled back at the end" in line for line in lines)
    # the lock trace saw the rollbacks' locks, held to the end of the rehearsal's transaction
    [budget] = by_gate(rehearsed, "lock_budget")
    assert {("item" in d["relation"], d["mode"]) for d in budget.details} >= {(True, "ACCESS EXCLUSIVE")}


def test_a_transactional_rollback_that_leaves_a_table_fails_the_rehearsal_and_staging_keeps_the_batch(
        staging_db, tmp_path):
    _item_table(staging_db)
    batch = _batch_of(tmp_path, {
        "migrations/s1_tag.sql": "CREATE TABLE tag (id int PRIMARY KEY);\nALTER TABLE item ADD COLUMN tag_id int;\n",
        "rollbacks/s1_tag_rollback.sql": "ALTER TABLE item DROP COLUMN tag_id;\n",  # forgets the table
    }, ["s1_tag"])

    _, rehearsed = run(staging_db, batch)

    restored, again = by_gate(rehearsed, "rollback_rehearsal")
    assert restored.verdict is Verdict.FAIL and any("tag" in d["diff"] for d in restored.details)
    assert again.verdict is Verdict.FAIL and "different schema" in again.message
    columns, _ = _state(staging_db)
    assert ("item", "tag_id") in columns  # rolled back: staging ends with the batch, as production will


def test_a_rollback_that_fails_in_the_rehearsals_transaction_is_rehearsed_again_committed_and_named(
        staging_db, tmp_path):
    _item_table(staging_db)
    batch = _batch_of(tmp_path, {
        "migrations/s1_note.sql": "ALTER TABLE item ADD COLUMN note text;\n",
        "rollbacks/s1_note_rollback.sql": "\nALTER TABLE item DROP COLUMN notes;\n",  # a typo
    }, ["s1_note"])
    lines = []

    _, rehearsed = run(staging_db, batch, log=lines.append)

    [failed] = by_gate(rehearsed, "rollback_applied")
    assert failed.verdict is Verdict.FAIL and "s1_note_rollback.sql line 2" in failed.message, failed.message
    assert any("rehearsing each rollback on its own, committed" in line for line in lines)
    columns, _ = _state(staging_db)
    assert ("item", "note") in columns
