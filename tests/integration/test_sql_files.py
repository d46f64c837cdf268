"""include/sql/observability.sql: each named query runs on a real database and reports what
the workload did."""

from __future__ import annotations

import pytest

import sample_app
from gonogo.clone import snapshot
from gonogo.errors import TargetError
from gonogo.postgres.sqlfile import SQL_DIR, load_named
from sample_app.workload import run_workload


@pytest.fixture
def observed(prod_db):
    sample_app.load(prod_db, scale=0.05)
    with prod_db.connect("tests", guards=None) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")  # the load's own statements are not the app's
    stats = run_workload(prod_db, iterations=3, scale=0.05)
    assert stats.errors == 0
    with prod_db.connect("tests", guards=None) as conn:
        yield conn, {name: conn.execute(sql).fetchall()
                     for name, sql in load_named(SQL_DIR / "observability.sql").items()}


def test_observability_queries_report_the_workload(observed):
    conn, results = observed
    assert set(results) == {"top_queries_by_latency", "table_bloat", "sequential_scans",
                            "long_running_transactions"}
    top = results["top_queries_by_latency"]
    assert 0 < len(top) <= 10
    assert any("\"Recipe\"" in row[-1] for row in top), top  # the app's own statements are there
    assert [row[2] for row in top] == sorted((row[2] for row in top), reverse=True)  # slowest first
    tables = {row[0] for row in results["table_bloat"]}
    assert set(sample_app.table_names()) <= tables
    scanned = {row[0]: row[1] for row in results["sequential_scans"]}
    assert scanned["SalesRecord"] > 0  # sales analytics has no index before the batch
    assert results["long_running_transactions"] == []


def test_snapshot_gives_up_instead_of_queueing_behind_an_exclusive_lock(prod_db, tmp_path):
    sample_app.load(prod_db, scale=0.02)
    with prod_db.connect("tests/blocker", guards=None, autocommit=False) as blocker:
        blocker.execute('LOCK TABLE "Recipe" IN ACCESS EXCLUSIVE MODE')
        with pytest.raises(TargetError) as caught:
            snapshot.dump(prod_db, tmp_path / "snap", log=lambda _: None, lock_wait_timeout="200ms")
        blocker.rollback()
    assert "lock" in str(caught.value).lower()
