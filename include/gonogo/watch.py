"""The watch window after a rollout (seed: "Monitor for 24-48 hours"): production's metrics
against the baseline read just before the batch, until the window closes, an alarm is raised
or the analysis turns inconclusive.

The default metrics, derived from the batch: each top query's mean time per call
(pg_stat_statements, against its mean before the rollout), the rollback ratio and deadlocks
(pg_stat_database), sessions waiting on locks, invalid indexes on the batch's tables (must stay
0), whether each index the batch created gets used, and dead-tuple growth on the touched tables.
A batch adds its own in the manifest's `watch.metrics`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import psycopg

from gonogo.analysis import ALARM, INCONCLUSIVE, Analysis, Metric, read
from gonogo.batch import Batch
from gonogo.context import RunContext
from gonogo.progress import duration
from gonogo.results import GateResult
from gonogo.sqlfile import query
from gonogo.target import SessionGuards, Target

Log = Callable[[str], None]
STABLE_DAYS_BEFORE_CLEANUP = 7  # seed, Next Steps: "Wait 1 week of stable production metrics"
NAMED_IN_PROGRESS = 5  # metrics named in one progress line; the rest are counted


def metrics(conn: psycopg.Connection, batch: Batch) -> list[Metric]:
    """The batch's metrics: gonogo's defaults (unless the manifest turns them off) plus its own."""
    config = batch.watch
    found = default_metrics(conn, batch) if config.defaults else []
    return found + list(config.metrics)


def default_metrics(conn: psycopg.Connection, batch: Batch) -> list[Metric]:
    t = batch.thresholds
    tables = batch.tables_needed()
    found = []
    for q in batch.queries:
        queryid = _query_id(conn, q.sql, q.params)
        if queryid is not None:
            found.append(Metric(f"query_ms:{q.name}", f"Mean time of {q.name}", query("metrics.sql", "query_time"),
                                {"queryid": queryid}, kind="ratio", unit=" ms", max_ratio=t.latency_ratio,
                                floor=t.latency_floor_ms, failure_limit=2))
    found += [
        Metric("rollback_ratio", "Rollbacks per transaction", query("metrics.sql", "rollback_ratio"),
               kind="ratio", max_ratio=2.0, floor=0.01, failure_limit=2),
        Metric("deadlocks", "Deadlocks since the rollout", query("metrics.sql", "deadlocks"), kind="delta", max=0),
        Metric("lock_waits", "Sessions waiting on a lock for over 1 s", query("metrics.sql", "lock_waits"),
               max=2, failure_limit=2),
        Metric("invalid_indexes", "Invalid indexes on the batch's tables", query("metrics.sql", "invalid_indexes"),
               {"tables": tables}, max=0),
    ]
    for step in batch.enabled_steps:
        for obj in step.creates():
            if obj.kind == "index":
                found.append(Metric(f"index_used:{obj.name}", f"{obj.name} is used", query("metrics.sql", "index_scans"),
                                    {"index": obj.name}, kind="delta", min=1, severity="warn", after_fraction=0.5))
    for table in tables:
        found.append(Metric(f"dead_tuples:{table}", f"Dead tuples in {table}", query("metrics.sql", "dead_tuple_pct"),
                            {"table": table}, unit=" %", max_increase=20, severity="warn", failure_limit=2))
    return found


def _query_id(conn: psycopg.Connection, sql: str, params: dict) -> int | None:
    """pg_stat_statements' id of a top query, from EXPLAIN VERBOSE (needs compute_query_id)."""
    try:
        plan = conn.execute("EXPLAIN (VERBOSE, FORMAT JSON) " + sql, params or None, prepare=False).fetchone()[0]
    except psycopg.Error:
        conn.rollback()
        return None
    return plan[0].get("Query Identifier")


def capture_baseline(ctx: RunContext) -> dict:
    """The metrics and their readings just before the batch touches production (JSON-able)."""
    with ctx.session("production") as conn:
        found = metrics(conn, ctx.batch)
        readings = read(conn, found)
    return {"metrics": [m.to_dict() for m in found], "readings": readings,
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def interval_for(seconds: float, batch: Batch) -> float:
    """The batch's interval, but at least ten polls in a short window."""
    return max(0.5, min(batch.watch.interval_seconds, seconds / 10))


def poll(target: Target, app: str, guards: SessionGuards, found: list[Metric]) -> dict:
    """One reading of every metric, each poll in its own guarded session (a 48-hour window never
    holds a connection); a session that cannot be opened is an error for every metric."""
    try:
        with target.connect(app, guards) as conn:
            return read(conn, found)
    except Exception as exc:  # noqa: BLE001 - an unreachable database is a reading error, not a crash
        return {m.name: f"{type(exc).__name__}: {exc}" for m in found}


def run_window(ctx: RunContext, baseline: dict, *, hours: float, log: Log = print,
               sleep: Callable[[float], None] = time.sleep) -> tuple[str, list[GateResult]]:
    """The whole window in this process (the deferrable trigger in plugins/ runs the same
    analysis without holding a worker slot): returns the outcome and one result per metric."""
    found = [Metric.from_dict(m) for m in baseline["metrics"]]
    seconds = hours * 3600
    analysis = Analysis(found, baseline["readings"], window_seconds=seconds, error_limit=ctx.batch.watch.error_limit)
    started, interval = time.monotonic(), interval_for(seconds, ctx.batch)
    log(opening(analysis, interval))
    while True:
        sleep(min(interval, max(0.0, seconds - (time.monotonic() - started))))
        status = analysis.observe(poll(ctx.production, ctx.app, ctx.guards, found), time.monotonic() - started)
        log(progress(analysis, seconds))
        if status in (ALARM, INCONCLUSIVE):
            return status, analysis.results()
        if time.monotonic() - started >= seconds:
            return analysis.finish(), analysis.results()


def opening(analysis: Analysis, interval: float) -> str:
    """The task log's first line of a window."""
    return (f"watch: {len(analysis.metrics)} metrics against their baseline for "
            f"{duration(analysis.window_seconds)}, read every {duration(interval)}")


def progress(analysis: Analysis, seconds: float) -> str:
    """One line for the task log after each poll: how far the window is, and which metrics are
    worse than their baseline or could not be read."""
    left, count = max(0.0, seconds - analysis.elapsed), len(analysis.metrics)
    worse, erroring = worse_than_baseline(analysis), erroring_metrics(analysis)
    return (f"watch: {duration(analysis.elapsed)} of {duration(seconds)}, {duration(left)} left, status "
            f"{analysis.status}, {count} metric{'' if count == 1 else 's'}; "
            + (f"worse than baseline: {_some(worse)}" if worse else "none worse than baseline")
            + (f"; not read: {_some(erroring)}" if erroring else ""))


def worse_than_baseline(analysis: Analysis) -> list[str]:
    """"name value (baseline b, n of m breaches so far)" of each metric whose last value is on
    the failing side of its baseline, or that breached earlier in the window; most breaches first."""
    found = []
    for metric in analysis.metrics:
        state, base = analysis.states[metric.name], analysis.baseline_value(metric)
        last = state.samples[-1][1] if state.samples else None
        worse = last is not None and base is not None and _worse(metric, last, base)
        if worse or state.breaches:
            now = f"{last:.4g}{metric.unit}" if last is not None else "no value"
            baseline = f"{base:.4g}{metric.unit}" if base is not None else "none"
            breaches = f", {state.breaches} of {metric.failure_limit + 1} breaches so far" if state.breaches else ""
            found.append((-state.breaches, f"{metric.name} {now} (baseline {baseline}{breaches})"))
    return [text for _, text in sorted(found, key=lambda item: item[0])]


def erroring_metrics(analysis: Analysis) -> list[str]:
    """"name (n in a row, inconclusive at m: error)" of each metric whose last reading failed."""
    found = []
    for metric in analysis.metrics:
        state = analysis.states[metric.name]
        if state.consecutive_errors:
            found.append(f"{metric.name} ({state.consecutive_errors} in a row, inconclusive at "
                         f"{analysis.error_limit}: {state.last_error})")
    return found


def _worse(metric: Metric, value: float, base: float) -> bool:
    """On the side of the baseline the metric's condition fails on."""
    if metric.max is not None or metric.max_ratio is not None or metric.max_increase is not None:
        return value > base
    return metric.min is not None and value < base


def _some(items: list[str]) -> str:
    more = len(items) - NAMED_IN_PROGRESS
    return ", ".join(items[:NAMED_IN_PROGRESS]) + (f" and {more} more" if more > 0 else "")


def cleanup_from(ended_at: datetime) -> datetime:
    """When a disabled cleanup step may be enabled: a week of stable metrics after the window."""
    return ended_at + timedelta(days=STABLE_DAYS_BEFORE_CLEANUP)

