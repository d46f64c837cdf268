"""Progress of an index build in the log, read from pg_stat_progress_create_index by a session of
its own while run_script runs the statement; that session never outlives the statement."""

from __future__ import annotations

import threading
import time

import pytest

from gonogo.postgres.execute import ScriptError, run_script
from gonogo.apply.progress import describe_index_build
from helpers import sql_file as script

PROGRESS_SESSIONS = "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'gonogo/%/progress'"


class Lines(list):
    """A log that keeps its lines and tells when a phase line came."""

    def __init__(self):
        super().__init__()
        self.phase = threading.Event()

    def __call__(self, line: str) -> None:
        self.append(line)
        if "phase '" in line:
            self.phase.set()


def gone(conn, deadline_seconds: float = 10.0) -> bool:
    """No progress session left (a closed session's backend exits just after the client)."""
    deadline = time.monotonic() + deadline_seconds
    while conn.execute(PROGRESS_SESSIONS).fetchall():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def table(prod_db):
    with prod_db.connect("tests/setup", guards=None) as conn:
        conn.execute("CREATE TABLE t (a int)")
        conn.execute("INSERT INTO t SELECT g % 100 FROM generate_series(1, 1000) g")  # duplicates in a
    return prod_db


def run_held_up(target, tmp_path, sql: str, *, while_held=None):
    """Run `sql` through run_script while another transaction has written to t, so that the
    CONCURRENTLY build waits for it past the progress threshold; `while_held(observer, pid)`
    runs once a phase line is logged, then the writer commits. Returns (log, error, writer pid)."""
    log, outcome = Lines(), {}
    with target.connect("tests/builder", guards=None) as builder, \
            target.connect("tests/observer", guards=None) as observer, \
            target.connect("tests/writer", guards=None, autocommit=False) as writer:
        writer.execute("INSERT INTO t VALUES (1000)")

        def build():
            try:
                run_script(builder, script(tmp_path, sql), log)
            except ScriptError as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=build)
        thread.start()
        try:
            assert log.phase.wait(30), log
            assert observer.execute(PROGRESS_SESSIONS).fetchall()  # the progress session is open meanwhile
            if while_held:
                while_held(observer, builder.info.backend_pid)
        finally:
            writer.commit()
            thread.join(60)
        assert not thread.is_alive()
        assert gone(observer), observer.execute(PROGRESS_SESSIONS).fetchall()
        return log, outcome.get("error"), writer.info.backend_pid


def test_a_held_up_build_logs_its_phase_and_who_it_waits_for(table, tmp_path):
    log, error, writer_pid = run_held_up(table, tmp_path, "CREATE INDEX CONCURRENTLY idx_t_a ON t (a);")
    assert error is None
    phases = [line for line in log if "phase '" in line]
    assert phases[0].startswith("    building index idx_t_a (")
    assert "phase 'waiting for writers before build'" in phases[0]  # PostgreSQL's own phase name
    assert f"waiting for pid {writer_pid} (gonogo/tests/writer)" in phases[0]
    with table.connect("tests", guards=None) as conn:
        assert conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_t_a'::regclass").fetchone()[0]


def test_the_progress_session_ends_with_a_build_that_fails(table, tmp_path):
    log, error, _ = run_held_up(table, tmp_path, "CREATE UNIQUE INDEX CONCURRENTLY idx_t_a ON t (a);")
    assert error is not None and error.sqlstate == "23505"  # t.a has duplicates
    assert any("building index idx_t_a" in line for line in log)


def test_the_progress_session_ends_with_a_build_that_is_cancelled(table, tmp_path):
    def cancel(observer, pid):
        assert observer.execute("SELECT pg_cancel_backend(%s)", [pid]).fetchone()[0]

    log, error, _ = run_held_up(table, tmp_path, "CREATE INDEX CONCURRENTLY idx_t_a ON t (a);", while_held=cancel)
    assert error is not None and error.sqlstate == "57014"


def test_a_quick_build_stays_one_line(table, tmp_path):
    log = Lines()
    with table.connect("tests/builder", guards=None) as conn:
        run_script(conn, script(tmp_path, "CREATE INDEX CONCURRENTLY idx_t_a ON t (a);"), log)
    assert not [line for line in log if "phase '" in line], log


def test_a_build_line_names_the_index_phase_and_share_done():
    row = {"command": "CREATE INDEX CONCURRENTLY", "phase": "building index: scanning table", "index": "idx_x",
           "table": "t", "blocks_done": 1200, "blocks_total": 5000, "tuples_done": 0, "tuples_total": 0,
           "lockers_done": 0, "lockers_total": 0, "partitions_done": 0, "partitions_total": 0,
           "locker_pid": None, "locker_application": None}
    assert describe_index_build(row, 4.0) == (
        "    building index idx_x (4.0 s): phase 'building index: scanning table', blocks 1200 of 5000 (24 %)")
    reindex = {**row, "command": "REINDEX CONCURRENTLY", "phase": "index validation: sorting tuples",
               "tuples_done": 30, "tuples_total": 120}
    assert describe_index_build(reindex, 150) == (
        "    reindexing idx_x (2 min): phase 'index validation: sorting tuples', blocks 1200 of 5000 (24 %), "
        "tuples 30 of 120 (25 %)")
