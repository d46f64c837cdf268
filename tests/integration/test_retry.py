"""gonogo.postgres.retry against real sessions: a deadlock with an app transaction retried to success, and
a real autovacuum (not a manual VACUUM: a manual one never yields) in a DDL step's way,
canceled so that the step takes its lock."""

from __future__ import annotations

import threading
import time

import pytest

from gonogo.postgres.execute import run_script
from gonogo.postgres.retry import RetryPolicy, autovacuum_action, can_cancel_autovacuum
from helpers import sql_file as script


def wait_for(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.01)
    raise AssertionError(f"waited {seconds} s for {what}")


def test_what_gonogo_does_about_an_autovacuum_reads_its_query():
    assert autovacuum_action('autovacuum: VACUUM public."Recipe"') == "canceled"
    assert autovacuum_action("autovacuum: VACUUM ANALYZE public.t") == "canceled"
    assert autovacuum_action("autovacuum: VACUUM public.t (to prevent wraparound)").startswith("waited for")


def test_a_deadlock_with_an_app_transaction_is_retried_to_success(prod_db, tmp_path):
    """The step locks a then b, the app b then a: the server picks the step as the victim (it
    waited first) and rolls it back; the step's block runs again once the app commits."""
    with prod_db.connect("tests/setup", guards=None) as setup:
        setup.execute("CREATE TABLE a (id int PRIMARY KEY, v int); INSERT INTO a VALUES (1, 0)")
        setup.execute("CREATE TABLE b (id int PRIMARY KEY, v int); INSERT INTO b VALUES (1, 0)")
    step = script(tmp_path, "BEGIN;\nUPDATE a SET v = v + 1 WHERE id = 1;\nUPDATE b SET v = v + 1 WHERE id = 1;\n"
                            "COMMIT;\n")
    outcome = {}

    def app(step_pid: int):
        with prod_db.connect("tests/app", guards=None, autocommit=False) as conn, \
                prod_db.connect("tests/watch", guards=None) as watch:
            conn.execute("SET deadlock_timeout = '10s'")  # the step (1 s) detects the deadlock first
            conn.execute("UPDATE b SET v = v + 10 WHERE id = 1")
            started.set()
            wait_for(lambda: watch.execute("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
                                           [step_pid]).fetchone()[0], 10, "the step to wait for b")
            conn.execute("UPDATE a SET v = v + 10 WHERE id = 1")  # the other order: a cycle
            conn.commit()
            outcome["app"] = "committed"

    started = threading.Event()
    lines = []
    with prod_db.connect("tests/step", guards=None) as conn:
        thread = threading.Thread(target=app, args=(conn.info.backend_pid,), daemon=True)
        thread.start()
        assert started.wait(10)
        run = run_script(conn, step, lines.append,
                         policy=RetryPolicy(lock_timeout="10s", attempts=5, first_backoff=0.2, max_backoff=0.5))
        thread.join(20)
        assert conn.execute("SELECT (SELECT v FROM a), (SELECT v FROM b)").fetchone() == (11, 11)
    assert outcome == {"app": "committed"}
    assert run.tally.deadlocks == 1 and run.tally.retried == 1
    assert [s.line for s in run.statements] == [1, 2, 3, 4]  # the block once, as it went through
    assert max(s.attempts for s in run.statements) == 2
    assert any(line.startswith("    deadlock detected for the transaction at line 1 (attempt 1/5)") for line in lines)


@pytest.fixture
def quick_autovacuum(prod_cluster):
    """The launcher visits each database every second (not every minute) while the test runs."""
    with prod_cluster.target().connect("tests/settings", guards=None) as conn:
        conn.execute("ALTER SYSTEM SET autovacuum_naptime = '1s'")
        conn.execute("SELECT pg_reload_conf()")
        yield
        conn.execute("ALTER SYSTEM RESET autovacuum_naptime")
        conn.execute("SELECT pg_reload_conf()")


def start_slow_autovacuum(target, table: str = "dusty", rows: int = 20000) -> int:
    """A table autovacuum wants at once (thresholds 0) and works through slowly (cost limit 1,
    100 ms per delay), dirtied; returns the autovacuum worker's pid once it runs on the table."""
    with target.connect("tests/setup", guards=None) as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, pad text) WITH (autovacuum_vacuum_threshold = 0, "
                     "autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_cost_delay = 100, "
                     "autovacuum_vacuum_cost_limit = 1, autovacuum_analyze_threshold = 1000000000)")
        conn.execute(f"INSERT INTO {table} SELECT g, repeat('x', 200) FROM generate_series(1, %s) g", [rows])
        conn.execute(f"UPDATE {table} SET pad = repeat('y', 200)")  # every row dead once: work for the vacuum
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("SELECT 1")  # the statistics reach the launcher now, not in 10 s
        return wait_for(lambda: (conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' AND datname = "
            "current_database() AND query LIKE %s", [f"%{table}%"]).fetchone() or [None])[0],
            60, f"autovacuum to start on {table}")


def test_a_real_autovacuum_in_a_ddl_steps_way_is_canceled_and_the_step_takes_its_lock(quick_autovacuum, prod_db,
                                                                                      tmp_path):
    """Five attempts of 200 ms could never outlast this autovacuum, and it never yields to a wait
    shorter than deadlock_timeout: the step gets through because gonogo cancels it."""
    autovacuum = start_slow_autovacuum(prod_db)
    lines = []
    with prod_db.connect("tests/step", guards=None) as conn:
        assert can_cancel_autovacuum(conn)[1]  # a superuser here; production needs pg_signal_backend
        run = run_script(conn, script(tmp_path, "ALTER TABLE dusty ADD COLUMN flag boolean;\n"), lines.append,
                         policy=RetryPolicy(lock_timeout="200ms", attempts=5, first_backoff=0.1, max_backoff=0.2))
        assert conn.execute("SELECT count(*) FROM pg_attribute WHERE attrelid = 'dusty'::regclass "
                            "AND attname = 'flag'").fetchone() == (1,)
    [met] = run.tally.autovacuum
    assert met["pid"] == autovacuum and met["action"] == "canceled" and "dusty" in met["query"]
    assert run.tally.lock_timeouts >= 1  # the first attempt met it; a later one took the lock
    assert any(f"(pid {autovacuum}) blocked the step: canceled it" in line for line in lines)


def test_a_production_role_that_may_not_cancel_autovacuum_is_told_the_grant(prod_db):
    import dataclasses
    import os

    from gonogo.gates.session_guards import session_guards
    from gonogo.results import Verdict
    from gonogo.postgres.target import SessionGuards

    role = f"migrator_{os.getpid()}"
    with prod_db.connect("tests/setup", guards=None) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'migrator'")
        try:
            as_role = dataclasses.replace(prod_db, user=role, password="migrator")
            refused = session_guards(as_role, SessionGuards(), app="run_1/check_session_guards")
            conn.execute(f"GRANT pg_signal_backend TO {role}")
            granted = session_guards(as_role, SessionGuards(), app="run_1/check_session_guards")
        finally:
            conn.execute(f"DROP ROLE {role}")
    assert refused.verdict is Verdict.WARN and f"GRANT pg_signal_backend TO {role}" in refused.hint
    assert granted.verdict is Verdict.PASS
