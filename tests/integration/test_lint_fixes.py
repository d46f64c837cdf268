"""Every fix the lint gives, run on PostgreSQL 15: for each gonogo rule (its module's FIX) and each
squawk rule whose help gonogo writes (squawk.FIXES), a bad statement and the rewrite the help
describes, on tables with rows.

- the lint flags the bad statement with the rule, and the lock the finding names is the one
  PostgreSQL takes (pg_locks, inside BEGIN ... ROLLBACK);
- the rewrite succeeds, and the lint gives no error on it;
- each statement of the rewrite takes the lock lock_taken/other_locks say (statements that
  cannot run in a transaction, CONCURRENTLY and DO blocks that COMMIT, are watched from a second
  session while a writer holds them up), never a stronger one than the bad statement, and where
  it holds a lock that makes the app wait it reads no rows (pg_stat_user_tables' scan counters
  unchanged: a catalog-only change); the slow part runs under a lock that lets the app write,
  shown by a write of the app's going through while it runs.
"""

from __future__ import annotations

import importlib
import threading
import time

import pytest

from gonogo.postgres import locks
from gonogo.lint import RULES, KnownSchema, lint_file
from gonogo.lint.lock_taken import lock_taken, node_table, other_locks
from gonogo.lint.squawk import _HELP, FIXES
from gonogo.postgres.statements import needs_autocommit, parse_script
from helpers import create_database, drop_database, sql_file

SCHEMA = """
CREATE TABLE "Recipe" ("id" bigint PRIMARY KEY, "name" text, "servings" int, "category" text,
    "yieldQuantity" numeric(10,2));
CREATE TABLE "RecipeItem" ("id" bigint PRIMARY KEY, "recipeId" bigint);
ALTER TABLE "Recipe" ADD CONSTRAINT recipe_servings_positive CHECK ("servings" > 0);
CREATE INDEX recipe_category ON "Recipe" ("category");
CREATE FUNCTION recipe_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
"""
ROWS = """
INSERT INTO "Recipe" SELECT g, 'recipe ' || g, 1 + g % 8, 'Cat' || g % 5, g FROM generate_series(1, 5000) g;
INSERT INTO "RecipeItem" SELECT g, 1 + g % 5000 FROM generate_series(1, 10000) g;
"""
# problems whose bad statement reads the table (a scan, an index build, a rewrite): checked, so
# that "reads no rows" below is not blind
SLOW_PROBLEMS = {"rewrite", "index-build", "validation-scan", "not-null-scan", "index-build-exclusive"}


def gonogo_fixes() -> dict[str, tuple]:
    fixes = {}
    for rule in RULES:
        module = importlib.import_module(rule.__module__)
        fixes[rule.__name__.replace("_", "-")] = (*getattr(module, "FIX", (None, None)),
                                                  getattr(module, "FIX_STEP", {}))
    return fixes


CASES = {**gonogo_fixes(), **{rule: (*pair, {}) for rule, pair in FIXES.items()}}


def test_every_rule_and_every_help_gonogo_writes_for_squawk_has_a_fix_pair():
    assert set(FIXES) == set(_HELP)
    missing = [rule for rule, (bad, fixed, _) in CASES.items() if bad is None]
    assert not missing, f"rules without a FIX = (bad sql, fixed sql) in their module: {missing}"


@pytest.fixture(scope="module")
def target(prod_cluster):
    target = create_database(prod_cluster, "fixes")
    yield target
    drop_database(prod_cluster, target.dbname)


@pytest.fixture
def conn(target):
    with target.connect("tests/fix", guards=None) as conn:
        conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        conn.execute(SCHEMA + ROWS + "ANALYZE")
        conn.execute("CREATE TABLE tables AS SELECT oid, relname::text AS name FROM pg_class "
                     "WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'")
        yield conn


def lint(tmp_path, sql: str, **step) -> list:
    step = {"step_kind": "schema", "step_enabled": True, **step}
    return lint_file(sql_file(tmp_path, sql + ";\n"), known=KnownSchema.of(parse_script(SCHEMA)), **step)


def held(conn, pid: int) -> dict[str, str]:
    """{table: strongest mode} the session `pid` holds, tables named as before the test (a RENAME
    in the open transaction does not change the name)."""
    rows = conn.execute("SELECT coalesce(t.name, c.relname), l.mode FROM pg_locks l "
                        "JOIN pg_class c ON c.oid = l.relation LEFT JOIN tables t ON t.oid = c.oid "
                        "WHERE l.pid = %s AND l.granted AND l.locktype = 'relation' AND c.relkind = 'r' "
                        "AND c.relnamespace = 'public'::regnamespace "
                        "AND c.relname <> 'tables'",  # this query's own lock on the name map
                        [pid]).fetchall()
    found: dict[str, list[str]] = {}
    for table, mode in rows:
        found.setdefault(table, []).append(mode)
    return {table: locks.strongest(modes) for table, modes in found.items()}


def scans(conn) -> dict[str, int]:
    """Rows read from each table so far (by sequential and index scans), as the statistics say."""
    conn.execute("SELECT pg_stat_force_next_flush()")  # flushed when the session goes idle, before the read
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return dict(conn.execute("SELECT relname, seq_tup_read + coalesce(idx_tup_fetch, 0) "
                             "FROM pg_stat_user_tables").fetchall())


def claimed(node, known: KnownSchema) -> dict[str, str]:
    table, lock = node_table(node), lock_taken(node)
    return {**({table: lock} if table and lock else {}), **other_locks(node, known)}


def run_in_transaction(conn, sql: str) -> dict[str, str]:
    conn.execute("BEGIN")
    try:
        conn.execute(sql)
        taken = held(conn, conn.info.backend_pid)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return taken


def run_watched(conn, target, sql: str, table: str) -> dict[str, str]:
    """Run a statement that cannot run in a transaction while a writer holds it up; return the
    locks it holds meanwhile, after checking that a write of the app's goes through."""
    pid = conn.info.backend_pid
    with target.connect("tests/writer", guards=None) as writer, \
            target.connect("tests/watcher", guards=None) as watcher, \
            target.connect("tests/app", guards=None) as app:
        writer.execute("BEGIN")
        writer.execute(f'UPDATE "{table}" SET "id" = "id" WHERE "id" = 1')  # a row lock and ROW EXCLUSIVE
        errors = []
        thread = threading.Thread(target=lambda: _run(conn, sql, errors))
        thread.start()
        taken: dict[str, str] = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            waiting = watcher.execute("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
                                      [pid]).fetchone()
            taken = held(watcher, pid)
            if waiting and waiting[0] and table in taken:
                break
            time.sleep(0.02)
        else:
            writer.execute("ROLLBACK")
            thread.join()
            pytest.fail(f"{sql!r} was never seen waiting with a lock on {table}: {errors}")
        app.execute("SET lock_timeout = '2s'")
        app.execute(f'UPDATE "{table}" SET "id" = "id" WHERE "id" = (SELECT max("id") FROM "{table}")')
        writer.execute("ROLLBACK")
        thread.join()
        for session in (writer, app):  # their row reads are counted now, not when they disconnect
            session.execute("SELECT pg_stat_force_next_flush()")
    assert not errors, errors
    return taken


def _run(conn, sql: str, errors: list) -> None:
    try:
        conn.execute(sql)
    except Exception as exc:  # reported by the test thread
        errors.append(exc)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_the_fix_runs_and_takes_the_weaker_lock_its_help_promises(conn, target, tmp_path, rule):
    bad, fixed, step = CASES[rule]
    known = KnownSchema.of(parse_script(SCHEMA))
    # the lint flags the bad statement, naming the lock PostgreSQL takes
    found = [f for f in lint(tmp_path, bad) if rule in (f.rule, *f.references)]
    assert found, f"{rule} does not flag its own bad statement"
    finding = found[0]
    statements = [s for s in parse_script(bad) if not s.is_transaction_control]
    before = scans(conn)
    conn.execute("BEGIN")
    for statement in statements:
        conn.execute(statement.sql)
    bad_locks = held(conn, conn.info.backend_pid)
    conn.execute("ROLLBACK")
    bad_table = node_table(statements[0].node)
    if bad_table is None:  # DROP INDEX names the index: its table is the one table it locks
        [bad_table] = bad_locks
    assert finding.lock == bad_locks[bad_table]
    if finding.key_problem in SLOW_PROBLEMS:
        assert scans(conn)[bad_table] > before[bad_table], "the bad statement reads the table's rows"

    # the rewrite: no error from the lint, and it runs
    assert not [f for f in lint(tmp_path, fixed, **step) if f.level == "error"]
    for statement in parse_script(fixed):
        node, table = statement.node, node_table(statement.node) or bad_table  # DROP INDEX: the index's table
        before = scans(conn)
        if statement.kind == "DoStmt":  # the fixes' DO blocks are batched backfills of "Recipe"
            taken = run_watched(conn, target, statement.sql, "Recipe")
            assert taken == {"Recipe": lock_taken(statement.inner[0])} == {"Recipe": "ROW EXCLUSIVE"}
        elif needs_autocommit(statement):
            taken = run_watched(conn, target, statement.sql, table)
            assert taken[table] == lock_taken(node) and not locks.blocks_app(taken[table])
        else:
            taken = run_in_transaction(conn, statement.sql)
            assert {t: m for t, m in taken.items() if t in claimed(node, known)} == claimed(node, known)
        for other, mode in taken.items():
            weaker_or_same = locks.LOCK_MODES.index(mode) <= locks.LOCK_MODES.index(bad_locks.get(other, mode))
            assert weaker_or_same, f"{statement.sql}: {mode} on {other}, stronger than the bad statement's"
            if locks.blocks_app(mode) and statement.kind != "DoStmt":
                assert scans(conn).get(other) == before.get(other), \
                    f"{statement.sql} holds {mode} on {other} while reading rows"
        for node in statement.nodes():
            known.apply(node)
