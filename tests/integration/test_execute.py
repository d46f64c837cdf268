"""run_script against a real server: notices, transactions, lock timeouts, CONCURRENTLY."""

from __future__ import annotations


import pytest
from psycopg import pq

from gonogo.execute import ScriptError, run_script
from gonogo.target import SessionGuards
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
