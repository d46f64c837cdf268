"""The lock trace against real clusters: what each kind of statement locks and for how long,
rewrites, the lock budget, the app's lock waits, and errors exactly as run_script raises them."""

from __future__ import annotations


import time

import pytest
from psycopg import pq

import sample_app
from gonogo.apply.backfill import run_backfill
from gonogo.batch import load_batch
from gonogo.postgres.execute import ScriptError, run_script
from gonogo.postgres.locktrace import WaitSampler, lock_budget, lock_waits, needs_autocommit, trace_script
from gonogo.results import Verdict
from gonogo.postgres.statements import parse_script
from gonogo.rehearsal.workload import Workload
from helpers import sql_file as script

SCALE = 0.1
BATCH = load_batch("20250115_recipe_fixes")


def quiet(_: str) -> None:
    pass


def relfilenode(conn, relation: str) -> int:
    return conn.execute("SELECT relfilenode FROM pg_class WHERE oid = %s::regclass", [relation]).fetchone()[0]


@pytest.fixture
def app_db(staging_db):
    sample_app.load(staging_db, scale=SCALE)
    return staging_db


@pytest.fixture
def conn(app_db):
    with app_db.connect("tests/migration") as conn:
        yield conn


def holds(traced, line: int) -> dict[tuple[str, str], object]:
    """The locks the statement at `line` took (a BEGIN gonogo sends shares its line, and takes none)."""
    return {(h.relation, h.mode): h for s in traced.statements if s.line == line for h in s.locks}


# -- what each kind of statement locks -----------------------------------------------------------

def test_plain_create_index_holds_share_on_its_table(conn, app_db, tmp_path):
    traced = trace_script(conn, script(tmp_path, 'CREATE INDEX recipe_name ON "Recipe" ("name");\n'),
                          observer=app_db, log=quiet)
    [statement] = traced.statements
    assert statement.method == "exact" and statement.seconds > 0
    share = holds(traced, 1)[('"Recipe"', "SHARE")]
    assert not share.sampled and share.blocks_app and "writes" in share.blocks
    assert 0 < share.held_seconds < 1
    new_index = next(h for h in statement.locks if h.relation == "recipe_name")
    assert new_index.new and not new_index.blocks_app  # nobody else can see it yet
    assert conn.info.transaction_status == pq.TransactionStatus.IDLE


def test_check_not_valid_holds_access_exclusive_briefly(conn, app_db, tmp_path):
    traced = trace_script(conn, script(tmp_path, (
        'ALTER TABLE "Recipe" ADD CONSTRAINT yield_positive CHECK ("yieldQuantity" > 0) NOT VALID;\n')),
        observer=app_db, log=quiet)
    hold = holds(traced, 1)[('"Recipe"', "ACCESS EXCLUSIVE")]
    assert hold.held_seconds < 0.2 and "reads and writes" in hold.blocks
    assert traced.statements[0].rewrites == []
    result = lock_budget([traced], budget_seconds=1.0, phase="dry_run", subject="step")
    assert result.verdict is Verdict.PASS and result.value == f"{hold.held_seconds:.3f} s"
    assert '"Recipe"' in result.message and "ACCESS EXCLUSIVE" in result.message
    assert {(d["relation"], d["mode"]) for d in result.details} >= {('"Recipe"', "ACCESS EXCLUSIVE")}


def test_alter_column_type_records_the_rewrite(conn, app_db, tmp_path):
    before = relfilenode(conn, '"RecipeItem"')
    traced = trace_script(conn, script(tmp_path, (
        "SELECT 1;\n"
        'ALTER TABLE "RecipeItem" ALTER COLUMN "quantity" TYPE double precision;\n')),
        observer=app_db, log=quiet)
    assert relfilenode(conn, '"RecipeItem"') != before  # the oracle: the catalog itself
    first, alter = traced.statements
    assert first.rewrites == [] and alter.rewrites[0] == '"RecipeItem"'
    assert ('"RecipeItem"', "ACCESS EXCLUSIVE") in holds(traced, 2)
    [row] = [d for d in traced.to_details() if d["relation"] == '"RecipeItem"' and d["mode"] == "ACCESS EXCLUSIVE"]
    assert row["rewritten"] and row["line"] == 2


def test_locks_inside_the_files_transaction_are_held_until_its_commit(conn, app_db, tmp_path):
    traced = trace_script(conn, script(tmp_path, (
        "BEGIN;\n"
        'LOCK TABLE "Recipe" IN SHARE MODE;\n'
        "SELECT pg_sleep(0.3);\n"
        'LOCK TABLE "Recipe" IN SHARE MODE;\n'  # held already: stays with line 2
        "COMMIT;\n")), observer=app_db, log=quiet)
    assert [s.method for s in traced.statements] == ["untraced", "exact", "exact", "exact", "untraced"]
    share = holds(traced, 2)[('"Recipe"', "SHARE")]
    assert 0.3 <= share.held_seconds < 1.0
    assert holds(traced, 4) == {}


def test_concurrently_is_sampled_and_does_not_block_the_workload(conn, app_db, tmp_path):
    # 16x the rows, so that the build lasts many polls of the sampler
    conn.execute('INSERT INTO "RecipeItem" ("recipeId", "ingredientId", "sectionId", "quantity", "unit") '
                 'SELECT "recipeId", "ingredientId", "sectionId", "quantity", "unit" '
                 'FROM "RecipeItem", generate_series(1, 15)')
    sql_file = script(tmp_path, 'CREATE INDEX CONCURRENTLY item_quantity ON "RecipeItem" ("quantity", "unit");\n')
    with Workload(app_db, BATCH.queries, clients=2) as workload, \
            WaitSampler(app_db, lambda: workload.pids) as sampler:
        traced = trace_script(conn, sql_file, observer=app_db, log=quiet)
    [statement] = traced.statements
    assert statement.method == "sampled"
    hold = holds(traced, 1)[('"RecipeItem"', "SHARE UPDATE EXCLUSIVE")]
    assert hold.sampled and not hold.blocks_app
    assert lock_budget([traced], budget_seconds=0.0, phase="dry_run", subject="s").verdict is Verdict.PASS
    result = lock_waits(sampler, threshold_seconds=1.0, phase="dry_run", subject="s", traced_runs=[traced])
    assert result.verdict is Verdict.PASS, result.message
    assert workload.stats.errors == 0 and workload.stats.calls > 0


def test_a_do_block_that_commits_is_sampled(conn, app_db, tmp_path):
    traced = trace_script(conn, script(tmp_path, (
        "DO $$ BEGIN\n"
        '  LOCK TABLE "Category" IN SHARE MODE; PERFORM pg_sleep(0.1); COMMIT;\n'
        "  RAISE NOTICE 'committed';\n"
        "END $$;\n")), observer=app_db, log=quiet)
    assert traced.statements[0].method == "sampled" and traced.statements[0].notices == ["committed"]
    hold = holds(traced, 1)[('"Category"', "SHARE")]
    assert hold.sampled and 0.05 < hold.held_seconds < 1.0


def test_statements_that_cannot_run_in_a_transaction_are_recognised():
    def first(sql: str):
        return parse_script(sql)[0]

    for sql in ("CREATE INDEX CONCURRENTLY i ON t (a)", "DROP INDEX CONCURRENTLY i", "REINDEX INDEX CONCURRENTLY i",
                "REINDEX SCHEMA public", "VACUUM t", "CALL p()",
                "DO $$ BEGIN LOOP EXIT; END LOOP; COMMIT; END $$"):
        assert needs_autocommit(first(sql)), sql
    for sql in ("CREATE INDEX i ON t (a)", "ANALYZE t", "REINDEX INDEX i", "DO $$ BEGIN PERFORM 1; END $$",
                "ALTER TABLE t ADD COLUMN b int"):
        assert not needs_autocommit(first(sql)), sql


# -- the lock budget ----------------------------------------------------------------------------

def test_a_lock_held_over_the_budget_fails_naming_the_statement(conn, app_db, tmp_path):
    traced = trace_script(conn, script(tmp_path, (
        "BEGIN;\n"
        'LOCK TABLE "Recipe" IN ACCESS EXCLUSIVE MODE;\n'
        "SELECT pg_sleep(0.5);\n"
        "COMMIT;\n"), "slow.sql"), observer=app_db, log=quiet)
    result = lock_budget([traced], budget_seconds=0.2, phase="dry_run", subject="slow")
    assert result.verdict is Verdict.FAIL and result.gate == "lock_budget"
    assert ('slow.sql line 2 (LOCK TABLE "Recipe" IN ACCESS EXCLUSIVE MODE) held ACCESS EXCLUSIVE on '
            '"Recipe" for 0.5') in result.message
    assert result.value.startswith("0.5") and "ACCESS EXCLUSIVE" in result.value
    assert result.hint and result.subject == "slow" and result.phase == "dry_run"


def test_the_shipped_batch_stays_within_its_lock_budget(conn, app_db):
    steps = BATCH.enabled_steps
    forward = []
    for step in steps:
        forward.append(trace_script(conn, step.forward, observer=app_db, log=quiet))
        if step.backfill:  # the file installs the dual-write trigger; the runner maps the rows
            assert not run_backfill(conn, step, run_id="tests", log=quiet).failed
    backward = [trace_script(conn, step.rollback, observer=app_db, log=quiet) for step in reversed(steps)]
    budget = BATCH.thresholds.lock_budget_seconds
    result = lock_budget(forward + backward, budget_seconds=budget, phase="dry_run", subject=BATCH.id)
    assert result.verdict is Verdict.PASS, result.message
    assert all(longest[1].held_seconds < 0.5 for traced in forward + backward
               if (longest := traced.longest_hold()) is not None)  # measured: a few ms each at this scale
    methods = {s.method for traced in forward for s in traced.statements}
    assert methods == {"exact", "sampled"}  # CONCURRENTLY was sampled


# -- what the app felt --------------------------------------------------------------------------

def test_a_blocking_migration_makes_the_app_wait_and_lock_waits_fail(conn, app_db, tmp_path):
    sql_file = script(tmp_path, (
        "BEGIN;\n"
        'LOCK TABLE "Recipe" IN ACCESS EXCLUSIVE MODE;\n'
        "SELECT pg_sleep(1.5);\n"
        "COMMIT;\n"), "blocking.sql")
    with Workload(app_db, BATCH.queries, clients=2) as workload, \
            WaitSampler(app_db, lambda: workload.pids) as sampler:
        traced = trace_script(conn, sql_file, observer=app_db, log=quiet)
    assert sampler.longest_wait_seconds >= 1.0
    result = lock_waits(sampler, threshold_seconds=1.0, phase="dry_run", subject="blocking", traced_runs=[traced])
    assert result.verdict is Verdict.FAIL and result.gate == "lock_waits"
    # a read (ACCESS SHARE) or a write (ROW EXCLUSIVE) of the app, whichever waited longest
    assert result.value.endswith(('(ACCESS SHARE on "Recipe")', '(ROW EXCLUSIVE on "Recipe")')), result.value
    assert f"blocked by pid {conn.info.backend_pid} (gonogo/tests/migration" in result.message
    # named by the statement that took the lock, not by what its session ran when sampled
    assert "the migration's session" in result.message and "pg_sleep" not in result.message, result.message
    assert 'blocking.sql line 2 (LOCK TABLE "Recipe" IN ACCESS EXCLUSIVE MODE)' in result.message
    assert result.details[0]["blocking_pids"] == [conn.info.backend_pid]
    assert workload.stats.errors == 0


# -- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    'SELECT 1;\nALTER TABLE "Recipe" ADD CONSTRAINT never CHECK ("yieldQuantity" < 0);\n',
    'BEGIN;\nLOCK TABLE "Recipe";\nSELECT 1 / 0;\nCOMMIT;\n',
    'BEGIN;\nCREATE INDEX CONCURRENTLY never ON "Recipe" ("name");\nCOMMIT;\n',
    "BEGIN;\nCREATE TABLE never (a int);\n",
], ids=["on_its_own", "in_the_files_transaction", "concurrently_in_a_transaction", "never_commits"])
def test_an_error_is_the_same_script_error_as_run_script(conn, app_db, tmp_path, text):
    sql_file = script(tmp_path, text)
    with pytest.raises(ScriptError) as plain:
        run_script(conn, sql_file)
    with pytest.raises(ScriptError) as traced:
        trace_script(conn, sql_file, observer=app_db, log=quiet)
    assert str(traced.value) == str(plain.value)
    assert (traced.value.line, traced.value.sqlstate) == (plain.value.line, plain.value.sqlstate)
    assert [s.line for s in traced.value.run.statements] == [s.line for s in plain.value.run.statements]
    assert conn.info.transaction_status == pq.TransactionStatus.IDLE
    assert conn.execute("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() "
                        "AND locktype = 'relation' AND relation = '\"Recipe\"'::regclass").fetchone()[0] == 0


@pytest.mark.parametrize("text, lines, columns", [
    ('ALTER TABLE "Recipe" ADD COLUMN traced_retry int;\n', [1], 1),
    ('BEGIN;\nALTER TABLE "Category" ADD COLUMN traced_retry int;\n'
     'ALTER TABLE "Recipe" ADD COLUMN traced_retry int;\nCOMMIT;\n', [1, 2, 3, 4], 2)])
def test_a_lock_timeout_is_retried_under_the_trace_with_one_trace_per_statement(conn, app_db, tmp_path, text, lines,
                                                                                 columns):
    """The tracer runs a lone statement in its own transaction: a lock timeout there is still a
    lone statement's retry, and a retried block is traced once, not once per attempt."""
    import threading

    from gonogo.postgres.retry import RetryPolicy

    blocker = app_db.connect("tests/blocker", guards=None)
    blocker.execute('BEGIN; SELECT 1 FROM "Recipe" LIMIT 1')  # ACCESS SHARE until it commits
    release = threading.Timer(1.0, blocker.commit)
    release.start()
    try:
        traced = trace_script(conn, script(tmp_path, text), observer=app_db, log=quiet,
                              policy=RetryPolicy(lock_timeout="100ms", attempts=40, first_backoff=0.05, max_backoff=0.2))
    finally:
        release.join()
        blocker.close()
    assert [s.line for s in traced.statements] == lines
    assert conn.execute("SELECT count(*) FROM pg_attribute WHERE attname = 'traced_retry'").fetchone()[0] == columns


# -- a file run in one transaction ----------------------------------------------------------------

def test_in_one_transaction_a_lock_is_held_to_the_commit_as_pg_locks_shows(staging_db, tmp_path):
    """Run in one transaction (as Prisma runs a migration.sql), the ALTER's ACCESS EXCLUSIVE
    lasts through the slow statement after it: the trace says so, and pg_locks, read from
    another session during that statement, agrees. Statement by statement it ends at once."""
    import threading

    with staging_db.connect("tests/setup", guards=None) as setup:
        setup.execute("CREATE TABLE account (id int PRIMARY KEY, note text)")
        setup.execute("INSERT INTO account SELECT g, 'x' FROM generate_series(1, 1000) g")
    text = "ALTER TABLE account ADD COLUMN flag boolean;\nSELECT pg_sleep(0.4);\n"
    seen = {}

    def watch(pid_of):
        with staging_db.connect("tests/observer", guards=None) as observer:
            time.sleep(0.2)  # into the pg_sleep
            seen["modes"] = [row[0] for row in observer.execute(
                "SELECT mode FROM pg_locks WHERE relation = 'account'::regclass AND pid = %s AND granted",
                [pid_of()])]

    for mode, held_long in (("transaction", True), ("statements", False)):
        with staging_db.connect("tests/migration") as conn:
            if mode == "statements":
                conn.execute("ALTER TABLE account DROP COLUMN flag")
            watcher = threading.Thread(target=watch, args=(lambda: conn.info.backend_pid,))
            watcher.start()
            traced = trace_script(conn, script(tmp_path, text, f"{mode}.sql", mode=mode), observer=staging_db,
                                  log=quiet)
            watcher.join()
        hold = holds(traced, 1)[("account", "ACCESS EXCLUSIVE")]
        assert ("AccessExclusiveLock" in seen["modes"]) is held_long, (mode, seen)
        assert (hold.held_seconds >= 0.4) is held_long, (mode, hold.held_seconds)
        assert hold.until_commit is held_long
        budget = lock_budget([traced], budget_seconds=0.3, phase="dry_run", subject=mode)
        assert budget.failed is held_long
        if held_long:
            assert "to the COMMIT of its transaction" in budget.message
