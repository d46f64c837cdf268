"""The watch window after a rollout (seed: "Monitor for 24-48 hours"): production's metrics
against the baseline read just before the batch, until the window closes, an alarm is raised
or the analysis turns inconclusive.

The default metrics, derived from the batch: each top query judged by gonogo.judge (its plan,
its pages per call, and its time per call over the recent intervals against the baseline's,
normalised by control queries), a control probe that touches no table, the rollback ratio and deadlocks
(pg_stat_database), sessions waiting on locks, invalid indexes on the batch's tables (must stay
0), whether each index the batch created gets used, and dead-tuple growth on the touched tables.
A batch adds its own in the manifest's `watch.metrics`.

The baseline is `watch.baseline_intervals` intervals read just before the batch, one window
interval apart: a distribution, not one reading. Where the gonogo_sample DAG sampled production
the day before (gonogo.samples), the intervals of the hours the window will cover, a day
earlier, are part of it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import psycopg

from gonogo.watching import samples
from gonogo.watching.analysis import ALARM, CONTROL, INCONCLUSIVE, QUERY, Analysis, Metric, breach_count, read, worse
from gonogo.postgres.plans import plan_scans
from gonogo.postgres.statements import created_objects, dropped_objects
from gonogo.batch import Batch
from gonogo.context import RunContext
from gonogo.apply.progress import duration
from gonogo.results import GateResult
from gonogo.postgres.sqlfile import query
from gonogo.postgres.target import SessionGuards, Target

Log = Callable[[str], None]
STABLE_DAYS_BEFORE_CLEANUP = 7  # seed, Next Steps: "Wait 1 week of stable production metrics"
NAMED_IN_PROGRESS = 5  # metrics named in one progress line; the rest are counted
DAY = timedelta(days=1)
SPAN_MARGIN = timedelta(hours=1)  # yesterday's samples read beyond the window's hours, each side


def metrics(conn: psycopg.Connection, batch: Batch) -> list[Metric]:
    """The batch's metrics: gonogo's defaults (unless the manifest turns them off) plus its own."""
    config = batch.watch
    found = default_metrics(conn, batch) if config.defaults else []
    return found + list(config.metrics)


def default_metrics(conn: psycopg.Connection, batch: Batch) -> list[Metric]:
    t = batch.thresholds
    tables = batch.tables_needed()
    rewritten = rewritten_tables(batch)
    found = [control_probe()]
    for q in batch.queries:
        explained = _explain(conn, q.sql, q.params)
        if explained is None or explained.get("Query Identifier") is None:
            continue
        scans = plan_scans(explained["Plan"])
        touched = {relation for _, relation, _ in scans if relation}
        names = touched | {index for _, _, index in scans if index}
        found.append(Metric(
            f"query_ms:{q.name}", f"Time, work and plan of {q.name}", query("metrics.sql", "query_work"),
            {"queryid": explained["Query Identifier"], "sql": q.sql, "args": q.to_dict()["params"],
             "control": not touched & set(tables), "rewritten": sorted(rewritten & touched),
             "steps_naming": steps_naming(batch, names)},
            kind=QUERY, unit=" ms", max_ratio=t.latency_ratio, floor=t.latency_floor_ms, failure_limit=1))
    found += [
        Metric("rollback_ratio", "Rollbacks per transaction", query("metrics.sql", "rollback_ratio"),
               kind="ratio", max_ratio=2.0, floor=0.01, failure_limit=2),
        Metric("deadlocks", "Deadlocks since the rollout", query("metrics.sql", "deadlocks"), kind="delta", max=0),
        Metric("lock_waits", "Sessions waiting on a lock for over 1 s", query("metrics.sql", "lock_waits"),
               max=2, failure_limit=2),
        Metric("invalid_indexes", "Invalid indexes on the batch's tables", query("metrics.sql", "invalid_indexes"),
               {"tables": tables}, max=0),
    ]
    for index in new_indexes(batch):
        found.append(Metric(f"index_used:{index}", f"{index} is used", query("metrics.sql", "index_scans"),
                            {"index": index}, kind="delta", min=1, severity="warn", after_fraction=0.5))
    for table in tables:
        found.append(Metric(f"dead_tuples:{table}", f"Dead tuples in {table}", query("metrics.sql", "dead_tuple_pct"),
                            {"table": table}, unit=" %", max_increase=20, severity="warn", failure_limit=2))
    return found


def new_indexes(batch: Batch) -> list[str]:
    """The indexes the batch leaves behind, statement by statement: made by a step and not dropped
    by a later statement (an index a later migration drops is never used, and was a false warning)."""
    left: dict[str, None] = {}
    for step in batch.enabled_steps:
        for statement in step.forward.statements:
            left.update((o.name, None) for o in created_objects([statement]) if o.kind == "index")
            for dropped in dropped_objects([statement]):
                if dropped.kind == "index":
                    left.pop(dropped.name, None)
    return list(left)


def control_probe() -> Metric:
    """A control that touches no table: how busy the machine is (the watch's and the samples')."""
    return Metric("control_probe", "Control: CPU work touching no table", query("metrics.sql", "control_probe"),
                  kind=CONTROL, unit=" ms")


def _explain(conn: psycopg.Connection, sql: str, params: dict) -> dict | None:
    """EXPLAIN VERBOSE of a top query: its plan, and pg_stat_statements' id of it (needs
    compute_query_id); None when it does not run."""
    try:
        return conn.execute("EXPLAIN (VERBOSE, FORMAT JSON) " + sql, params or None, prepare=False).fetchone()[0][0]
    except psycopg.Error:
        conn.rollback()
        return None


def rewritten_tables(batch: Batch) -> set[str]:
    """Tables the batch rewrites or backfills: where it leaves dead tuples behind."""
    found = set()
    for step in batch.enabled_steps:
        if step.backfill:
            found.add(step.backfill.table)
        if step.kind == "backfill":
            found |= step.tables()
    return found


def steps_naming(batch: Batch, names: set[str]) -> dict[str, list[str]]:
    """{index or table: the enabled steps whose SQL names it}: the step a plan change points to."""
    found: dict[str, list[str]] = {}
    for step in batch.enabled_steps:
        text = "\n".join(s.sql for s in step.forward.statements)
        for name in names:
            if name in text:
                found.setdefault(name, []).append(step.name)
    return found


def capture_baseline(ctx: RunContext, *, hours: float | None = None, log: Log = print,
                     sleep: Callable[[float], None] = time.sleep) -> dict:
    """The metrics, and `baseline_intervals` intervals of their readings, one window interval
    apart, just before the batch touches production, with the samples of the same hours the
    day before where gonogo_sample took them (JSON-able). Each reading in its own session, as
    the window's polls are. Logs how many intervals came from where."""
    batch = ctx.batch
    interval = interval_for(hours * 3600, batch) if hours else batch.watch.interval_seconds
    with ctx.session("production") as conn:
        found = metrics(conn, batch)
    series, times = [poll(ctx.production, ctx.app, ctx.guards, found)], [time.time()]
    for _ in range(batch.watch.baseline_intervals):
        sleep(interval)
        series.append(poll(ctx.production, ctx.app, ctx.guards, found))
        times.append(time.time())
    with ctx.session("production") as conn:
        yesterday, note = same_hours_yesterday(conn, found, hours)
    baseline = {"metrics": [m.to_dict() for m in found], "readings": series[-1], "series": series, "times": times,
                "yesterday": yesterday, "interval": interval,
                "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    sources = Analysis.from_baseline(found, baseline, window_seconds=(hours or 0) * 3600, error_limit=1)
    baseline["sources"] = sources.sources | {"note": note}
    log(f"watch baseline: {sources.describe_sources()}" + (f" ({note})" if note else ""))
    return baseline


def same_hours_yesterday(conn: psycopg.Connection, found: list[Metric], hours: float | None) -> tuple[list, str]:
    """Runs of gonogo_sample's samples of the hours a window of `hours` starting now covers,
    a day earlier (the whole day for a window of a day or more; an hour's margin each side),
    as readings of `found` ({"at": epoch seconds, "readings": {metric: reading}}); and a note
    that says where they come from, or why there are none."""
    now = datetime.now(timezone.utc)
    span = min(DAY, timedelta(hours=hours or 24))
    start, end = now - DAY - SPAN_MARGIN, min(now, now - DAY + span + SPAN_MARGIN)
    queries = {m.params["queryid"]: m.name for m in found if m.kind == QUERY}
    probe = control_probe()
    probes = [m.name for m in found if m.kind == CONTROL and m.query == probe.query]
    taken = samples.between(conn, list(queries), start, end)
    if not taken:
        kept, oldest, _ = samples.count(conn)
        why = (f"gonogo_sample has not sampled {conn.info.dbname} yet (paused or new)" if not kept else
               f"none of gonogo_sample's {kept} samples is of the same hours yesterday "
               f"(the oldest is from {oldest:%Y-%m-%d %H:%M} UTC)")
        return [], f"{why}: only the intervals just before the batch"
    runs = [[{"at": s.at.timestamp(), "readings": {**{queries[q]: list(v) for q, v in s.statements.items()},
                                                  **{name: [s.probe_ms] for name in probes if s.probe_ms is not None}}}
             for s in run] for run in taken]
    sampled = {name for run in runs for s in run for name in s["readings"]}
    missing = sorted(name.removeprefix("query_ms:") for name in queries.values() if name not in sampled)
    first, last = taken[0][0].at, taken[-1][-1].at
    note = f"gonogo_sample's samples from {first:%Y-%m-%d %H:%M} to {last:%H:%M} UTC"
    if missing:
        note += f"; not among the sampled statements: {', '.join(missing)} (the intervals just before the batch only)"
    return runs, note


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
    analysis = Analysis.from_baseline(found, baseline, window_seconds=seconds, error_limit=ctx.batch.watch.error_limit)
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
            f"{duration(analysis.window_seconds)}, read every {duration(interval)}; baseline: "
            f"{analysis.describe_sources()}"
            + ("" if analysis.sources["yesterday"] else " (no samples of the same hours yesterday: gonogo_sample)"))


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
    """"name value (baseline b; breached in n of m intervals, alarm at k)" of each metric whose last
    value is on the failing side of its baseline, or that breached earlier in the window; most
    breaches first. A query says which evidence fired; a control is the machine, never worse."""
    found = []
    for metric in analysis.metrics:
        if metric.kind == CONTROL:
            continue
        state, base = analysis.states[metric.name], analysis.baseline_value(metric)
        last = state.samples[-1][1] if state.samples else None
        if metric.kind == QUERY:
            bad = state.judgement is not None and state.judgement.alarm
        else:
            bad = last is not None and base is not None and worse(metric, last, base)
        if bad or state.breaches:
            now = f"{last:.4g}{metric.unit}" if last is not None else "no value"
            baseline = f"{base:.4g}{metric.unit}" if base is not None else "none"
            breaches = (f"; breached in {breach_count(state.breaches, state.measured)}, alarm at "
                        f"{metric.failure_limit + 1}" + ("" if bad else ", not now")) if state.breaches else ""
            fired = f" [{', '.join(state.judgement.fired)}]" if metric.kind == QUERY and bad else ""
            found.append((-state.breaches, f"{metric.name}{fired} {now} (baseline {baseline}{breaches})"))
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


def _some(items: list[str]) -> str:
    more = len(items) - NAMED_IN_PROGRESS
    return ", ".join(items[:NAMED_IN_PROGRESS]) + (f" and {more} more" if more > 0 else "")


def cleanup_from(ended_at: datetime) -> datetime:
    """When a disabled cleanup step may be enabled: a week of stable metrics after the window."""
    return ended_at + timedelta(days=STABLE_DAYS_BEFORE_CLEANUP)



def sample_production(target: Target, app: str, guards: SessionGuards, *, limit: int = samples.STATEMENTS,
                      retention_days: float = samples.RETENTION.days, keep: int = samples.KEEP) -> dict:
    """One sample of production for the baselines of later watch windows (the gonogo_sample
    DAG): the control probe and the app's top statements' counters, stored in gonogo's schema
    on that database, older samples pruned. Returns what it did (JSON-able, no credentials)."""
    with target.connect(app, guards) as conn:
        taken = samples.take(conn, control_probe(), limit=limit)
        pruned = samples.store(conn, taken, retention=timedelta(days=retention_days), keep=keep)
        kept, oldest, _ = samples.count(conn)
    return {"database": target.describe(), "at": taken.at.isoformat(timespec="seconds"),
            "statements": len(taken.statements), "probe_ms": taken.probe_ms, "pruned": pruned, "kept": kept,
            "oldest": oldest.isoformat(timespec="seconds") if oldest else None}
