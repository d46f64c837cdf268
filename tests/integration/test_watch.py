"""The watch window's analysis on real clusters, windows of seconds: a clean window passes, an
index dropped halfway is caught as a latency regression, a metric that keeps failing ends
inconclusive — never green."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

import sample_app
from gonogo.watching.analysis import ALARM, INCONCLUSIVE, PASSED, Analysis, Metric
from gonogo.batch import WatchConfig, load_batch
from gonogo.context import RunContext
from gonogo.reporting import slack
from gonogo.reporting.report import RunInfo
from gonogo.results import Verdict
from gonogo.apply.steps import apply_steps
from gonogo.watching.watch import capture_baseline, cleanup_from, progress, run_window, worse_than_baseline
from gonogo.rehearsal.workload import Workload
from helpers import create_database, drop_database

BATCH = dataclasses.replace(load_batch("20250115_recipe_fixes"), watch=WatchConfig(interval_seconds=1.0))


def quiet(_):
    pass


@pytest.fixture(scope="module")
def migrated(prod_cluster):
    """The recipe app at scale 1 with the batch applied: sales analytics served by its index."""
    target = create_database(prod_cluster, "watch_template")
    sample_app.load(target, scale=1.0)
    with target.connect("tests", guards=None) as conn:
        assert apply_steps(conn, list(BATCH.enabled_steps), phase="production", live_traffic=False, log=quiet).ok
    yield target
    drop_database(prod_cluster, target.dbname)


@pytest.fixture
def production(prod_cluster, migrated):
    target = create_database(prod_cluster, "watch_copy", name="production", template=migrated)
    with target.connect("tests", guards=None) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")
    yield target
    drop_database(prod_cluster, target.dbname)


def context(target, batch=BATCH) -> RunContext:
    return RunContext(batch=batch, production=target, staging=target, run_id="watch", app="watch/tests",
                      folder=Path("/nonexistent"))


def traffic(target):
    return Workload(target, BATCH.queries, clients=2, app="tests/app", commit_writes=True)  # the app itself


def test_a_clean_window_passes(production):
    ctx = context(production)
    with traffic(production):
        time.sleep(2)  # the app's own baseline, before the window
        baseline = capture_baseline(ctx, hours=6 / 3600)
        status, results = run_window(ctx, baseline, hours=6 / 3600, log=quiet)
    assert status == PASSED, [(r.subject, r.value, r.message) for r in results if r.verdict is not Verdict.PASS]
    by_name = {r.subject: r for r in results}
    assert by_name["query_ms:sales_analytics"].verdict is Verdict.PASS
    assert by_name["invalid_indexes"].verdict is Verdict.PASS and by_name["deadlocks"].verdict is Verdict.PASS
    assert not [r for r in results if r.verdict is Verdict.FAIL]
    # every fail-severity metric was measured, not merely absent
    assert all(r.details for r in results)


def test_a_window_without_app_traffic_measures_no_query_and_is_not_called_passed(production):
    # No client sends a query, before the batch or during the window. The watch's own EXPLAIN of
    # each top query (its plan, each poll) is a call of that query in pg_stat_statements (nested,
    # pg_stat_statements.track = all, as on these clusters): taken for the app's, every query
    # read "0 ms (baseline 0 ms), within its threshold in all 10 measurements" and the window
    # passed on nothing the app did.
    ctx = context(production)
    baseline = capture_baseline(ctx, hours=4 / 3600, log=quiet)
    status, results = run_window(ctx, baseline, hours=4 / 3600, log=quiet)
    queries = [r for r in results if r.subject.startswith("query_ms:")]
    assert queries
    for result in queries:
        assert result.verdict is Verdict.WARN, (result.subject, result.value, result.message)
        assert result.message.startswith("no data in the whole window"), result.message
        assert result.value.startswith("no value"), result.value
    assert status == PASSED  # no alarm: the other metrics were measured
    info = RunInfo(dag_id="gonogo_rollout", run_id="watch", batch_id=BATCH.id, batch_title="", run_url="",
                   report_url="")
    text = slack.completed(info, [], [], watched=results).blocks[1]["text"]["text"]
    assert "watch window passed" not in text
    assert f"the watch window raised no alarm; {len(queries)} of {len(results)} metrics were never measured" in text


def test_calls_that_took_no_time_are_no_measurement():
    # pg_stat_statements.track = top with track_utility = off (PostgreSQL 15): the watch's EXPLAIN
    # of a query is a top-level call of it, one a poll, that ran nothing (no time, pages or rows)
    q = Metric("query_ms:q", "q", "", {"queryid": 1}, kind="query", max_ratio=1.5, floor=2.0, failure_limit=1)
    plan = ("Index Scan using i on t", [["Index Scan", "t", "i"]])

    def explained(polls):  # cumulative (time, calls, pages, rows), cost, plan, scans
        return (0.0, float(polls), 0.0, 0.0, 10.0, *plan)

    series = [{"query_ms:q": explained(i)} for i in range(1, 10)]
    analysis = Analysis([q], series[-1], window_seconds=60, series=series)
    for i in range(10, 16):
        analysis.observe({"query_ms:q": explained(i)}, (i - 9) * 10)
    assert analysis.finish() == PASSED
    [result] = analysis.results()
    assert result.verdict is Verdict.WARN and result.message.startswith("no data in the whole window"), result.message
    assert result.value == "no value (baseline —)"


def test_an_index_dropped_halfway_is_a_plan_change_that_raises_the_alarm(production):
    ctx = context(production)

    def drop_the_index():
        time.sleep(4)
        with production.connect("tests/dba", guards=None) as conn:
            conn.execute("DROP INDEX CONCURRENTLY idx_sales_record_analytics")

    with traffic(production):
        time.sleep(2)
        baseline = capture_baseline(ctx, hours=30 / 3600)
        threading.Thread(target=drop_the_index, daemon=True).start()
        started = time.monotonic()
        status, results = run_window(ctx, baseline, hours=30 / 3600, log=quiet)
        took = time.monotonic() - started
    assert status == ALARM
    assert took < 29  # it did not wait for the end of the window
    [slow] = [r for r in results if r.subject == "query_ms:sales_analytics"]
    assert slow.verdict is Verdict.FAIL and "breached in 2 of" in slow.message
    assert "plan changed" in slow.message and "idx_sales_record_analytics" in slow.hint
    assert "baseline" in slow.value and "Mann-Whitney" in slow.threshold
    breaching = [d for d in slow.details if d["note"].startswith("breach")]
    assert len(breaching) == 2  # failure_limit 1: the second breach fails it


def test_a_metric_that_keeps_failing_ends_inconclusive_not_green(production):
    broken = Metric("orders_backlog", "Orders waiting", "SELECT count(*) FROM \"NoSuchTable\"", max=100)
    # Only the broken metric: a default one breaching first (a loaded machine slows queries) is an alarm.
    batch = dataclasses.replace(BATCH, watch=WatchConfig(defaults=False, interval_seconds=0.5, error_limit=3,
                                                         metrics=(broken,)))
    ctx = context(production, batch)
    with traffic(production):
        baseline = capture_baseline(ctx)
        status, results = run_window(ctx, baseline, hours=20 / 3600, log=quiet)
    assert status == INCONCLUSIVE
    [failing] = [r for r in results if r.subject == "orders_backlog"]
    assert failing.verdict is Verdict.FAIL and failing.message.startswith("inconclusive")
    assert "NoSuchTable" in failing.message


def test_the_analysis_rules():
    gauge = Metric("g", "gauge", "", max=1)
    ratio = Metric("r", "ratio", "", kind="ratio", max_ratio=2.0, floor=1.0, failure_limit=1)
    quiet_query = Metric("q", "never called", "", kind="ratio", max_ratio=2.0)
    analysis = Analysis([gauge, ratio, quiet_query], {"g": (0.0,), "r": (10.0, 10.0), "q": (5.0, 1.0)},
                        window_seconds=10, error_limit=2)
    analysis.observe({"g": (1.0,), "r": (40.0, 20.0), "q": (5.0, 1.0)}, 1)   # r: 3 ms/call vs 1: breach 1
    assert analysis.status == "running"
    analysis.observe({"g": (0.0,), "r": (80.0, 30.0), "q": (5.0, 1.0)}, 2)   # r: 4 ms/call: breach 2 > limit 1
    assert analysis.status == ALARM
    ok = Analysis([quiet_query], {"q": (5.0, 1.0)}, window_seconds=10)
    ok.observe({"q": (5.0, 1.0)}, 5)
    assert ok.finish() == PASSED
    [no_data] = ok.results()
    assert no_data.verdict is Verdict.WARN  # nothing measured is never a PASS


def test_progress_names_the_metrics_worse_than_their_baseline():
    latency = Metric("query_ms:q", "q", "", kind="ratio", unit=" ms", max_ratio=1.5, floor=2, failure_limit=2)
    waits = Metric("lock_waits", "waits", "", max=2, failure_limit=2)
    used = Metric("index_used:i", "i used", "", kind="delta", min=1, after_fraction=0.5)
    rows = Metric("rows", "rows", "SELECT 1")
    analysis = Analysis([latency, waits, used, rows], {"query_ms:q": (10.0, 10.0), "lock_waits": (0.0,),
                                                       "index_used:i": (7.0,), "rows": (3.0,)},
                        window_seconds=7200, error_limit=3)
    analysis.observe({"query_ms:q": (50.0, 20.0), "lock_waits": (0.0,), "index_used:i": (9.0,),
                      "rows": "relation \"nowhere\" does not exist"}, 600)
    # q: 4 ms per call against 1 ms, a breach; nothing else worse (an index used more is better)
    assert worse_than_baseline(analysis) == ["query_ms:q 4 ms (baseline 1 ms; breached in 1 of 1 interval, alarm at 3)"]
    analysis.observe({"query_ms:q": (60.0, 30.0), "lock_waits": (1.0,), "index_used:i": (9.0,), "rows": (3.0,)}, 1200)
    # q back to 1 ms per call, its breach still counted; one session waiting: worse, not a breach
    assert worse_than_baseline(analysis) == ["query_ms:q 1 ms (baseline 1 ms; breached in 1 of 2 intervals, alarm at 3, "
                                             "not now)",
                                             "lock_waits 1 (baseline 0)"]
    assert progress(analysis, 7200) == (
        "watch: 20 min of 2.0 h, 100 min left, status running, 4 metrics; worse than baseline: "
        "query_ms:q 1 ms (baseline 1 ms; breached in 1 of 2 intervals, alarm at 3, not now), lock_waits 1 (baseline 0)")
    clean = Analysis([rows], {"rows": (3.0,)}, window_seconds=60)
    clean.observe({"rows": "relation \"nowhere\" does not exist"}, 30)
    assert progress(clean, 60) == ('watch: 30 s of 60 s, 30 s left, status running, 1 metric; none worse than '
                                   'baseline; not read: rows (1 in a row, inconclusive at 3: relation "nowhere" '
                                   'does not exist)')


def test_a_short_window_logs_every_poll_with_the_time_left_and_what_got_worse(prod_db):
    grows = Metric("rows_in_t", "Rows in t", "SELECT count(*) FROM t", max_increase=1000)
    steady = Metric("tables", "Tables", "SELECT count(*) FROM pg_class WHERE relname = 't'", max=1)
    batch = dataclasses.replace(BATCH, watch=WatchConfig(defaults=False, interval_seconds=1.0, metrics=(grows, steady)))
    ctx = context(prod_db, batch)
    with prod_db.connect("tests", guards=None) as conn:
        conn.execute("CREATE TABLE t (a int)")
        baseline = capture_baseline(ctx, hours=3 / 3600, log=quiet)
        conn.execute("INSERT INTO t SELECT generate_series(1, 5)")  # after the baseline: worse, within the limit
    log = []
    status, results = run_window(ctx, baseline, hours=3 / 3600, log=log.append)
    assert status == PASSED
    assert log[0] == ("watch: 2 metrics against their baseline for 3.0 s, read every 0.5 s; baseline: 8 intervals "
                      "just before the batch (no samples of the same hours yesterday: gonogo_sample)")
    polls = log[1:]
    assert len(polls) == len(results[0].details) > 1, log  # one line per poll (a sample each), nothing else
    for line in polls:
        assert re.fullmatch(r"watch: [\d.]+ s of 3\.0 s, [\d.]+ s left, status running, 2 metrics; "
                            r"worse than baseline: rows_in_t 5 \(baseline 0\)", line), line


def test_the_cleanup_waits_a_week_after_the_window():
    ended = datetime(2025, 1, 20, 12, 0, tzinfo=timezone.utc)
    assert cleanup_from(ended) == datetime(2025, 1, 27, 12, 0, tzinfo=timezone.utc)


def test_an_index_a_later_migration_drops_is_not_watched_for_use(prod_conn, tmp_path):
    """A trial (six real Prisma migrations, all pending): migration 3 dropped two indexes
    migrations 1 and 2 had made, and the watch window warned 'not used' for both. An index
    dropped and made again in one migration is watched."""
    from integration.test_steps import make_batch
    from gonogo.watching.watch import metrics

    batch = make_batch(tmp_path, [
        {"name": "tables", "forward": "CREATE TABLE t (a int, b int);\nCREATE INDEX t_a_idx ON t (a);\n"
                                      "CREATE INDEX t_b_idx ON t (b);", "rollback": "DROP TABLE t;"},
        {"name": "reindex", "forward": "DROP INDEX t_a_idx;\nCREATE INDEX t_a_idx ON t (a, b);\n"
                                       "DROP INDEX t_b_idx;", "rollback": "SELECT 1;"},
    ])
    watched = [m.name for m in metrics(prod_conn, batch) if m.name.startswith("index_used:")]
    assert watched == ["index_used:t_a_idx"]
