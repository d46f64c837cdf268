"""The locks the rename, drop-index and whole-table-write rules claim, against the locks
PostgreSQL takes: each statement runs inside BEGIN ... ROLLBACK on tables with rows, and
pg_locks, read in that transaction, names the modes it holds on each table. The rows a
"every row" write really touches are counted too."""

from __future__ import annotations

import threading
import time

import pytest

from gonogo.lint import lint_file
from gonogo.lint.lock_taken import lock_taken
from gonogo.postgres.statements import parse_script
from helpers import sql_file

ROWS = 200
SCHEMA = f"""
CREATE TABLE plan (code text PRIMARY KEY, label text);
INSERT INTO plan VALUES ('free', 'Free'), ('pro', 'Pro');
CREATE TABLE account (id bigint PRIMARY KEY, email text, plan text REFERENCES plan, note text);
INSERT INTO account SELECT g, 'u' || g || '@x', CASE WHEN g % 2 = 0 THEN 'free' ELSE 'pro' END, NULL
    FROM generate_series(1, {ROWS}) g;
CREATE INDEX account_email ON account (email);
"""
# What production already has: the index's table is known to the lint from its CREATE INDEX.
EARLIER = parse_script("CREATE INDEX CONCURRENTLY IF NOT EXISTS account_email ON account (email);\n")


@pytest.fixture
def conn(staging_db):
    with staging_db.connect("tests/lint-locks", guards=None) as conn:
        conn.execute(SCHEMA)
        yield conn


def measure(conn, setup: list[str], statement: str) -> tuple[dict[str, set[str]], int]:
    """({table: lock modes held}, rows written) of `statement`, run after `setup` in one
    transaction that is rolled back. Tables are named as before the transaction (a rename
    inside it does not change the name the lint uses)."""
    names = dict(conn.execute("SELECT oid, relname FROM pg_class WHERE relkind = 'r' "
                              "AND relnamespace = 'public'::regnamespace").fetchall())
    conn.execute("BEGIN")
    try:
        for sql in setup:
            conn.execute(sql)
        before = set(conn.execute("SELECT relation, mode FROM pg_locks WHERE pid = pg_backend_pid() "
                                  "AND locktype = 'relation'").fetchall())
        rows = conn.execute(statement).rowcount
        held: dict[str, set[str]] = {}
        for relation, mode in conn.execute("SELECT relation, mode FROM pg_locks WHERE pid = pg_backend_pid() "
                                           "AND locktype = 'relation' AND granted").fetchall():
            if relation in names and (relation, mode) not in before:
                held.setdefault(names[relation], set()).add(_spelled(mode))
    finally:
        conn.execute("ROLLBACK")
    return held, rows


def _spelled(mode: str) -> str:
    """pg_locks' AccessExclusiveLock as the docs and the lint spell it: ACCESS EXCLUSIVE."""
    words = []
    for ch in mode.removesuffix("Lock"):
        if ch.isupper() and words:
            words.append(" ")
        words.append(ch.upper())
    return "".join(words)


def findings(tmp_path, text: str, rule: str):
    found = lint_file(sql_file(tmp_path, text), step_kind="cutover", step_enabled=True, earlier=EARLIER)
    return [f for f in found if f.rule == rule]


# (rule, setup statements, the statement, its table, {other table: mode it takes there})
CASES = [
    ("rename", [], "ALTER TABLE account RENAME COLUMN email TO mail", "account", {}),
    ("rename", [], "ALTER TABLE account RENAME TO customer", "account", {}),
    ("drop-index-without-concurrently", [], "DROP INDEX account_email", "account", {}),
    ("unbatched-update-delete", [], "UPDATE account a SET note = p.label FROM plan p WHERE a.plan = p.code",
     "account", {"plan": "ACCESS SHARE"}),
    ("unbatched-update-delete", [], "DELETE FROM account USING plan WHERE account.plan = plan.code",
     "account", {"plan": "ACCESS SHARE"}),
]


@pytest.mark.parametrize("rule, setup, statement, table, others", CASES,
                         ids=["rename_column", "rename_table", "drop_index", "update_from", "delete_using"])
def test_the_lock_a_rule_claims_is_the_lock_postgresql_takes(conn, tmp_path, rule, setup, statement, table,
                                                             others):
    [finding] = findings(tmp_path, "".join(f"{s};\n" for s in (*setup, statement)), rule)
    held, _ = measure(conn, setup, statement)
    assert held[table] == {finding.lock}, (statement, held)
    assert lock_taken(parse_script(statement)[0].node) == finding.lock  # what plan and held_lock use
    assert {t: modes for t, modes in held.items() if t != table} == {t: {m} for t, m in others.items()}
    assert f'"{table}"' in finding.message
    for other, mode in others.items():
        assert f'"{other}"' in finding.message and mode in finding.message


# (setup, statement, rows it writes): the writes the lint says touch every row (all but one for <>)
EVERY_ROW = [
    ([], "UPDATE account SET note = 'x'", ROWS),
    ([], "DELETE FROM account WHERE true", ROWS),
    ([], "UPDATE account a SET note = p.label FROM plan p WHERE a.plan = p.code", ROWS),
    ([], "UPDATE account SET note = 'x' WHERE id != 1", ROWS - 1),
    (["ALTER TABLE account ADD COLUMN slug text"], "UPDATE account SET slug = email WHERE slug IS NULL", ROWS),
]


@pytest.mark.parametrize("setup, statement, rows", EVERY_ROW,
                         ids=["no_where", "where_true", "join_only", "not_equal", "is_null_after_add_column"])
def test_a_write_the_lint_calls_whole_table_writes_every_row(conn, tmp_path, setup, statement, rows):
    [finding] = findings(tmp_path, "".join(f"{s};\n" for s in (*setup, statement)), "unbatched-update-delete")
    # a join-only WHERE writes every row with a match: here every row ("may touch" in the lint)
    assert "every row" in finding.message
    assert ("may touch" in finding.message) == (finding.problem == "unbounded-write") == (statement == EVERY_ROW[2][1])
    held, written = measure(conn, setup, statement)
    assert written == rows
    assert held["account"] == {finding.lock} == {"ROW EXCLUSIVE"}


def test_the_fix_drop_index_concurrently_runs_and_holds_only_share_update_exclusive(staging_db, conn, tmp_path):
    """The rule's fix, run as written: while it waits for a reader's transaction, pg_locks (read
    from a third session) shows SHARE UPDATE EXCLUSIVE on the table, which lets reads and
    writes through, as lock_taken says; then the index is gone."""
    [finding] = findings(tmp_path, "DROP INDEX account_email;\n", "drop-index-without-concurrently")
    fix = finding.help.split(";")[0]
    assert fix == "DROP INDEX CONCURRENTLY IF EXISTS account_email"
    with staging_db.connect("tests/reader", guards=None) as reader, \
            staging_db.connect("tests/dropper", guards=None) as dropper:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM account")  # ACCESS SHARE until it commits: the drop waits for it
        done = threading.Thread(target=dropper.execute, args=(fix,))
        done.start()
        modes: list[str] = []
        for _ in range(100):  # until the drop waits for the reader
            modes = [row[0] for row in conn.execute(
                "SELECT mode FROM pg_locks WHERE pid = %s AND relation = 'account'::regclass AND granted",
                [dropper.info.backend_pid])]
            if modes:
                break
            time.sleep(0.05)
        writes = conn.execute("UPDATE account SET note = 'during' WHERE id = 1").rowcount  # not blocked
        reader.execute("COMMIT")
        done.join(timeout=30)
    assert [_spelled(m) for m in modes] == [lock_taken(parse_script(fix + ";")[0].node)] == ["SHARE UPDATE EXCLUSIVE"]
    assert writes == 1
    assert conn.execute("SELECT to_regclass('account_email')").fetchone()[0] is None


def test_the_rename_table_fix_runs_and_the_old_name_still_reads_and_writes(conn, tmp_path):
    """The fix the rename rule gives for a table, run as written in one transaction: under the
    old name a view stays, and the app's reads and writes through it still work."""
    [finding] = findings(tmp_path, "ALTER TABLE account RENAME TO customer;\n", "rename")
    fix = finding.help.split("(", 1)[1].split("; a simple view")[0]
    assert fix == 'ALTER TABLE "account" RENAME TO "customer"; CREATE VIEW "account" AS SELECT * FROM "customer"'
    conn.execute("BEGIN")
    try:
        conn.execute(fix)
        assert conn.execute("SELECT count(*) FROM account").fetchone()[0] == ROWS
        assert conn.execute("UPDATE account SET note = 'via view' WHERE id = 1").rowcount == 1
        conn.execute("INSERT INTO account (id, email, plan) VALUES (%s, 'new@x', 'free')", [ROWS + 1])
        assert conn.execute("SELECT count(*) FROM customer WHERE note = 'via view' OR id = %s",
                            [ROWS + 1]).fetchone()[0] == 2
    finally:
        conn.execute("ROLLBACK")
