"""run_script against a real server: notices, transactions, lock timeouts, CONCURRENTLY."""

from __future__ import annotations


import pytest
from psycopg import pq

from gonogo.postgres.execute import ScriptError, run_script
from gonogo.postgres.target import SessionGuards
from helpers import sql_file as script


def exists(conn, relation: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", [relation]).fetchone()[0]


def test_runs_every_statement_and_captures_notices(prod_conn, tmp_path):
    run = run_script(prod_conn, script(tmp_path, (
        "-- a comment\nDROP TABLE IF EXISTS nowhere;\n"
        "CREATE TABLE t (a int);\n"
        "DO $$ BEGIN RAISE NOTICE 'rows: %', (SELECT count(*) + 40 FROM generate_series(1, 2)); END $$;\n")))
    assert [s.line for s in run.statements] == [2, 3, 4]
    assert run.statements[0].notices == ['table "nowhere" does not exist, skipping']
    assert run.statements[1].notices == []
    assert run.statements[2].notices == ["rows: 42"]
    assert exists(prod_conn, "t")


def test_error_in_an_explicit_transaction_rolls_it_back(prod_conn, tmp_path):
    sql_file = script(tmp_path, (
        "CREATE TABLE kept (a int);\n"
        "BEGIN;\n"
        "CREATE TABLE half (a int);\n"
        "INSERT INTO kept VALUES (1);\n"
        "SELECT 1 / (SELECT count(*) FROM half);\n"
        "COMMIT;\n"))
    with pytest.raises(ScriptError) as caught:
        run_script(prod_conn, sql_file)
    error = caught.value
    assert error.sqlstate == "22012" and error.line == 5
    assert "script.sql line 5 failed (SQLSTATE 22012): division by zero" in str(error)
    assert [s.line for s in error.run.statements] == [1, 2, 3, 4]  # what ran before the failure
    assert prod_conn.info.transaction_status == pq.TransactionStatus.IDLE
    assert prod_conn.execute("SELECT 1").fetchone() == (1,)  # the session is usable
    assert not exists(prod_conn, "half")
    assert exists(prod_conn, "kept")  # made before BEGIN, in its own transaction
    assert prod_conn.execute("SELECT count(*) FROM kept").fetchone()[0] == 0


def test_a_lock_held_elsewhere_fails_fast_with_55P03(prod_db, tmp_path):
    with prod_db.connect("tests/setup", guards=None) as setup:
        setup.execute("CREATE TABLE busy (a int)")
    sql_file = script(tmp_path, "ALTER TABLE busy ADD COLUMN b int;\n", "migration.sql")
    with prod_db.connect("tests/holder", guards=None, autocommit=False) as holder, \
            prod_db.connect("tests/runner", guards=SessionGuards(lock_timeout="100ms")) as runner:
        holder.execute("SELECT * FROM busy")  # ACCESS SHARE, held until the transaction ends
        with pytest.raises(ScriptError) as caught:
            run_script(runner, sql_file)
        assert caught.value.sqlstate == "55P03" and caught.value.line == 1
        message = str(caught.value)
        assert "migration.sql line 1 failed (SQLSTATE 55P03)" in message
        assert "What to do:" in message and "pg_locks" in message and "retry" in message
        assert runner.info.transaction_status == pq.TransactionStatus.IDLE

        holder.rollback()  # the lock is released: the same script now goes through
        run_script(runner, sql_file)
        columns = runner.execute("SELECT attname FROM pg_attribute WHERE attrelid = 'busy'::regclass "
                                 "AND attnum > 0 ORDER BY attnum").fetchall()
        assert columns == [("a",), ("b",)]


def test_create_index_concurrently_runs_through_run_script(prod_conn, tmp_path):
    prod_conn.execute("CREATE TABLE items (a int); INSERT INTO items SELECT generate_series(1, 1000)")
    run_script(prod_conn, script(tmp_path, "CREATE INDEX CONCURRENTLY items_a ON items (a);\n"))
    valid, ready = prod_conn.execute("SELECT indisvalid, indisready FROM pg_index "
                                     "WHERE indexrelid = 'items_a'::regclass").fetchone()
    assert valid and ready


def test_concurrently_inside_begin_fails_with_a_hint(prod_conn, tmp_path):
    prod_conn.execute("CREATE TABLE items (a int)")
    with pytest.raises(ScriptError) as caught:
        run_script(prod_conn, script(tmp_path, "BEGIN;\nCREATE INDEX CONCURRENTLY items_a ON items (a);\nCOMMIT;\n"))
    assert caught.value.sqlstate == "25001" and caught.value.line == 2
    assert "move it out of BEGIN" in str(caught.value)
    assert prod_conn.info.transaction_status == pq.TransactionStatus.IDLE
    assert not exists(prod_conn, "items_a")


def test_begin_without_commit_is_rolled_back_and_refused(prod_conn, tmp_path):
    with pytest.raises(ScriptError) as caught:
        run_script(prod_conn, script(tmp_path, "BEGIN;\nCREATE TABLE never (a int);\n", "open.sql"))
    assert caught.value.sqlstate is None and caught.value.line == 2
    assert "open.sql opens a transaction (BEGIN) and never commits it" in str(caught.value)
    assert prod_conn.info.transaction_status == pq.TransactionStatus.IDLE
    assert not exists(prod_conn, "never")


def test_a_committed_block_persists(prod_conn, tmp_path):
    run = run_script(prod_conn, script(tmp_path, "BEGIN;\nCREATE TABLE done (a int);\nINSERT INTO done VALUES (1), (2);\nCOMMIT;\n"))
    assert len(run.statements) == 4
    assert prod_conn.execute("SELECT count(*) FROM done").fetchone()[0] == 2


# -- a file run in one transaction (as Prisma, Flyway, Alembic run theirs) ------------------------

def test_a_file_in_one_transaction_leaves_nothing_when_a_statement_fails(prod_conn, tmp_path):
    sql_file = script(tmp_path, (
        "CREATE TABLE first (a int);\n"
        "INSERT INTO first VALUES (1);\n"
        "SELECT 1 / 0;\n"), mode="transaction")
    with pytest.raises(ScriptError) as caught:
        run_script(prod_conn, sql_file)
    assert caught.value.line == 3 and caught.value.sqlstate == "22012"
    assert not exists(prod_conn, "first")  # statement by statement it would be there
    assert prod_conn.info.transaction_status == pq.TransactionStatus.IDLE


def test_what_records_the_file_commits_with_it_or_not_at_all(prod_conn, tmp_path):
    """before_commit writes in the file's own transaction: a history row means the file's
    changes committed, and a failure anywhere leaves neither."""
    prod_conn.execute("CREATE TABLE ledger (name text)")

    def record(conn):
        conn.execute("INSERT INTO ledger VALUES ('applied')")
        assert conn.info.transaction_status == pq.TransactionStatus.INTRANS  # inside the file's transaction

    run_script(prod_conn, script(tmp_path, "CREATE TABLE good (a int);\n", mode="transaction"), before_commit=record)
    assert exists(prod_conn, "good")
    assert prod_conn.execute("SELECT count(*) FROM ledger").fetchone()[0] == 1

    def record_then_fail(conn):
        record(conn)
        conn.execute("SELECT 1 / 0")

    with pytest.raises(ScriptError):
        run_script(prod_conn, script(tmp_path, "CREATE TABLE bad (a int);\n", "bad.sql", mode="transaction"),
                   before_commit=record_then_fail)
    assert not exists(prod_conn, "bad")
    assert prod_conn.execute("SELECT count(*) FROM ledger").fetchone()[0] == 1


def test_concurrently_runs_alone_between_the_files_transactions(prod_conn, tmp_path):
    """CREATE INDEX CONCURRENTLY cannot run in a transaction block: the statements before it
    commit, it runs alone, the rest run in a new transaction."""
    sql_file = script(tmp_path, (
        "CREATE TABLE t (a int);\n"
        "CREATE INDEX CONCURRENTLY t_a ON t (a);\n"
        "ALTER TABLE t ADD COLUMN b int;\n"
        "SELECT 1 / 0;\n"), mode="transaction")
    assert [s.sql for s in sql_file.as_run if s.implicit] == ["BEGIN", "COMMIT", "BEGIN", "COMMIT"]
    with pytest.raises(ScriptError):
        run_script(prod_conn, sql_file)
    assert exists(prod_conn, "t") and exists(prod_conn, "t_a")  # committed before the failure
    columns = prod_conn.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 't'").fetchone()[0]
    assert columns == 1  # ADD COLUMN b was in the transaction that failed


def test_a_lock_timeout_retries_the_whole_file_in_one_transaction(prod_db, tmp_path):
    """A statement of a file run in one transaction times out on its lock: the whole file is
    retried (its earlier statements rolled back with it), and applies once the holder is gone."""
    import threading
    import time

    from gonogo.postgres.retry import RetryPolicy

    with prod_db.connect("tests/setup", guards=None) as setup:
        setup.execute("CREATE TABLE busy (a int)")
        setup.execute("CREATE TABLE other (a int)")
    sql_file = script(tmp_path, "ALTER TABLE other ADD COLUMN b int;\nALTER TABLE busy ADD COLUMN b int;\n",
                      mode="transaction")
    holder = prod_db.connect("tests/holder", guards=None, autocommit=False)
    holder.execute("SELECT * FROM busy")
    threading.Timer(0.8, holder.rollback).start()
    started = time.monotonic()
    with prod_db.connect("tests/runner") as runner:
        run = run_script(runner, sql_file, policy=RetryPolicy(lock_timeout="100ms", attempts=30, first_backoff=0.05,
                                                              max_backoff=0.2))
        assert runner.execute("SELECT count(*) FROM information_schema.columns WHERE column_name = 'b'").fetchone()[0] == 2
    holder.close()
    assert time.monotonic() - started >= 0.8
    assert max(s.attempts for s in run.statements) > 1
    assert [s.line for s in run.statements] == [1, 1, 2, 2]  # BEGIN, line 1, line 2, COMMIT: once each
