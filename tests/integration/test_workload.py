"""gonogo's own app workload against a real server: every query runs, no lock is held between
queries, it stops promptly even while a query waits for a lock, and it names its sessions."""

from __future__ import annotations

import time

import pytest

import sample_app
from gonogo.batch import load_batch
from gonogo.authoring.queries import Query
from gonogo.rehearsal.workload import Workload

SCALE = 0.1
QUERIES = load_batch("20250115_recipe_fixes").queries


@pytest.fixture
def app_db(staging_db):
    sample_app.load(staging_db, scale=SCALE)
    return staging_db


def test_runs_every_query_without_errors_and_reports_its_pids(app_db):
    with Workload(app_db, QUERIES, clients=2) as workload:
        pids = workload.pids
        with app_db.connect("tests", guards=None) as conn:
            sessions = conn.execute("SELECT pid, state FROM pg_stat_activity WHERE application_name = "
                                    "'gonogo/workload'").fetchall()
            assert {pid for pid, _ in sessions} == pids and len(pids) == 2
            # autocommit: a session of the workload is never idle inside a transaction
            for _ in range(20):
                states = conn.execute("SELECT state FROM pg_stat_activity WHERE pid = ANY (%s)",
                                      [list(pids)]).fetchall()
                assert ("idle in transaction",) not in states
                time.sleep(0.01)
        while min(q.calls for q in workload.stats.queries.values()) < 3:
            time.sleep(0.02)
    stats = workload.stats
    assert stats.errors == 0, {n: q.first_error for n, q in stats.queries.items() if q.errors}
    assert set(stats.queries) == {q.name for q in QUERIES}
    assert all(0 < q.mean_ms <= q.p99_ms <= q.max_ms for q in stats.queries.values())
    assert stats.clients == 2 and stats.seconds > 0
    assert "recipe_search" in stats.table() and stats.to_details()[0]["calls"] >= 3


def test_stops_promptly_even_while_its_queries_wait_for_a_lock(app_db):
    with app_db.connect("tests/holder", guards=None, autocommit=False) as holder:
        holder.execute('LOCK TABLE "Recipe" IN ACCESS EXCLUSIVE MODE')
        workload = Workload(app_db, [Query("count", 'SELECT count(*) FROM "Recipe"')], clients=2)
        entering = time.monotonic()
        with workload:
            assert time.monotonic() - entering < 2.0  # started: each client has its session
            time.sleep(0.2)  # both clients are now waiting for the lock
            with app_db.connect("tests", guards=None) as conn:
                waiting = conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND pid = ANY (%s)",
                                       [list(workload.pids)]).fetchone()[0]
            assert waiting == 2
            stopping = time.monotonic()
        assert time.monotonic() - stopping < 1.0
        holder.rollback()
    # the cancelled queries were gonogo stopping, not errors the app would have seen
    assert workload.stats.errors == 0 and workload.stats.calls == 0


def test_errors_are_counted_not_raised(staging_db):
    with Workload(staging_db, QUERIES[:2], clients=1, rounds=3) as workload:
        assert workload.wait(10)
    stats = workload.stats
    assert stats.calls == stats.errors == 6
    assert all("does not exist" in q.first_error for q in stats.queries.values())


def test_think_time_pauses_each_client_between_rounds_and_stop_cuts_it_short(app_db):
    with Workload(app_db, QUERIES, clients=2, think_seconds=3600) as workload:
        while sum(q.calls for q in workload.stats.queries.values()) < 2 * len(QUERIES):
            time.sleep(0.02)
        time.sleep(0.5)
        calls = {name: q.calls for name, q in workload.stats.queries.items()}
    # one round per client, then each waits: no query ran a third time
    assert set(calls.values()) == {2}


def test_keep_calls_records_each_execution_on_the_monotonic_clock(app_db):
    before = time.monotonic()
    with Workload(app_db, QUERIES[:2], clients=2, rounds=3, keep_calls=True) as workload:
        assert workload.wait(30)
    after = time.monotonic()
    calls = workload.calls
    assert len(calls) == workload.stats.calls == 12
    assert {c.query for c in calls} == {q.name for q in QUERIES[:2]}
    assert all(before <= c.started and c.started + c.ms / 1000 <= after and c.error is None for c in calls)
    assert sorted(c.ms for c in calls) == sorted(ms for q in workload.stats.queries.values() for ms in q.durations_ms)


def test_calls_are_not_kept_unless_asked(app_db):
    with Workload(app_db, QUERIES[:1], clients=1, rounds=2) as workload:
        assert workload.wait(30)
    assert workload.stats.calls == 2 and workload.calls == []


def test_writes_are_rolled_back_unless_the_workload_stands_for_the_app(app_db):
    """gonogo's rehearsal traffic leaves staging's rows as they were; a stand-in for the app on
    production commits, as the app does (its rollbacks would be an alarm in the watch window)."""
    [write] = [q for q in QUERIES if q.name == "save_recipe"]
    assert write.writes

    def version():  # the row's xmin: a committed UPDATE makes a new version, even of the same values
        with app_db.connect("tests", guards=None) as conn:
            return conn.execute('SELECT xmin::text FROM "Recipe" WHERE id = %s', [write.params["recipe_id"]]).fetchone()

    before = version()
    with Workload(app_db, [write], clients=1, rounds=2) as workload:
        workload.wait(30)
    assert workload.stats.errors == 0 and version() == before
    with Workload(app_db, [write], clients=1, rounds=2, commit_writes=True) as workload:
        workload.wait(30)
    assert workload.stats.errors == 0 and version() != before
