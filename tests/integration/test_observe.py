"""gonogo.rehearsal.observe: the observability snapshot of a real database, and the diff gate over two."""

from __future__ import annotations

import json

import psycopg
import pytest

import sample_app
from gonogo.rehearsal.observe import diff, snapshot
from gonogo.results import Verdict
from sample_app.workload import run_workload

SCALE = 0.1  # 5 companies


@pytest.fixture
def app_db(prod_db):
    sample_app.load(prod_db, SCALE)
    return prod_db


@pytest.fixture
def conn(app_db):
    with app_db.connect("tests", guards=None) as conn:
        yield conn


def flushed(target, *statements: str) -> None:
    """Run statements in a session of their own whose statistics are flushed when it commits
    (a backend otherwise flushes at most once a second)."""
    with target.connect("tests/app", guards=None) as other, other.transaction():
        other.execute("SELECT pg_stat_force_next_flush()")
        for statement in statements:
            other.execute(statement)


def by_what(result, what: str) -> dict[str, dict]:
    return {row["object"]: row for row in result.details if row["what"] == what}


def test_snapshot_holds_every_section_as_plain_data(app_db, conn):
    conn.execute("CREATE EXTENSION pg_stat_statements")
    assert run_workload(app_db, iterations=2, scale=SCALE).errors == 0

    snap = snapshot(conn)

    assert json.loads(json.dumps(snap)) == snap
    assert set(snap["queries"]) == {"top_queries_by_latency", "table_bloat", "sequential_scans",
                                    "long_running_transactions"}
    assert snap["row_counts"] == {f"public.{t}": n for t, n in sample_app.row_counts(conn).items()}
    top = snap["queries"]["top_queries_by_latency"]
    assert 0 < len(top) <= 10 and any('"SalesRecord"' in q["query"] for q in top)
    assert {"queryid", "calls", "mean_ms"} <= set(top[0]) and isinstance(top[0]["mean_ms"], float)
    assert {r["table_name"] for r in snap["queries"]["table_bloat"]} >= set(sample_app.table_names())
    assert snap["queries"]["long_running_transactions"] == []
    assert diff(snap, snap, phase="dry_run").verdict is Verdict.PASS


def test_lost_rows_fail_naming_the_table_and_counts(app_db, conn):
    before = snapshot(conn)
    flushed(app_db, 'DELETE FROM "Notification" WHERE "id" <= 150')
    after = snapshot(conn)

    result = diff(before, after, phase="dry_run")

    assert result.verdict is Verdict.FAIL and result.gate == "observability"
    lost = by_what(result, "rows")["public.Notification"]
    assert (lost["before"], lost["after"], lost["flag"]) == (2000, 1850, "FAIL")
    assert lost["change"] == "2000 → 1850 rows (-150)"
    assert "public.Notification: 2000 → 1850 rows (-150)" in result.message
    assert "deleted" in result.hint
    assert by_what(result, "dead tuples")["Notification"]["after"] == 7.5  # 150 of 2000
    # on production the app deletes too: a warning to look at, not a failure
    assert diff(before, after, phase="production", live_traffic=True).verdict is Verdict.WARN


def test_a_new_table_scan_shows_in_the_sequential_scan_deltas(app_db, conn):
    before = snapshot(conn)
    flushed(app_db, 'SELECT count(*) FROM "WholesaleOrder" WHERE "total" > 0')
    after = snapshot(conn)

    result = diff(before, after, phase="dry_run")

    assert result.verdict is Verdict.PASS, result.message
    scans = by_what(result, "sequential scans")
    assert set(scans) == {"WholesaleOrder"}  # the snapshots' own row counts are not counted
    assert scans["WholesaleOrder"]["change"] == "+1 sequential scans reading +1000 rows (index scans +0)"
    assert result.value == f"{len(result.details) - 1} changes"  # plus top queries: not compared


def test_a_dead_tuple_surge_and_a_long_transaction_warn(app_db, conn):
    before = snapshot(conn)
    flushed(app_db, 'UPDATE "WholesaleOrder" SET "total" = "total" + 1')
    after = snapshot(conn)
    result = diff(before, after, phase="dry_run")
    assert result.verdict is Verdict.WARN
    bloat = by_what(result, "dead tuples")["WholesaleOrder"]
    assert bloat["flag"] == "WARN" and bloat["after"] - bloat["before"] > 20 and "VACUUM" in result.hint

    # a transaction open for over a minute, as pg_stat_activity reports it
    fake = {**after, "queries": {**after["queries"], "long_running_transactions": [
        {"pid": 4242, "usename": "app", "application_name": "report", "state": "idle in transaction",
         "xact_age": 95.0, "wait_event_type": "Client", "query": "SELECT 1"}]}}
    result = diff(after, fake, phase="dry_run")
    assert result.verdict is Verdict.WARN
    assert by_what(result, "long transaction")["pid 4242 (app report)"]["flag"] == "WARN"
    assert "pg_stat_activity" in result.hint


def test_without_pg_stat_statements_the_error_is_recorded_not_raised(app_db, conn):
    snap = snapshot(conn)

    error = snap["queries"]["top_queries_by_latency"]["error"]
    assert "pg_stat_statements" in error and "does not exist" in error
    assert isinstance(snap["queries"]["table_bloat"], list) and snap["row_counts"]["public.Recipe"] == 500
    conn.execute("SELECT 1")  # the session is still usable
    result = diff(snap, snap, phase="dry_run")
    assert result.verdict is Verdict.PASS
    assert by_what(result, "not compared")["top_queries_by_latency"]["change"] == error
    assert "not compared: top_queries_by_latency" in result.message


def test_snapshot_in_an_open_transaction_keeps_it_usable(app_db):
    with app_db.connect("tests", guards=None, autocommit=False) as conn:
        snap = snapshot(conn)
        assert "error" in snap["queries"]["top_queries_by_latency"]
        assert snap["row_counts"]["public.Recipe"] == 500
        assert conn.execute("SELECT count(*) FROM \"Recipe\"").fetchone()[0] == 500
        assert conn.info.transaction_status is not psycopg.pq.TransactionStatus.INERROR
