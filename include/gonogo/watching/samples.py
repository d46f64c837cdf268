"""Production sampled ahead of any rollout: the history the watch window's baseline needs for
the same hours of the day before.

pg_stat_statements keeps cumulative counters only, no history. So a small scheduled DAG
(dags/gonogo_sample.py) takes a sample every so often: the time of the watch's control probe and
the counters of the app's top statements (time, calls, shared blocks, rows — the watch's own
query metric, for many statements at once), stored in gonogo's schema on production. Two
consecutive samples give one interval's time, pages and rows per call, as two polls of the watch
do; the watch's baseline adds the intervals of the hours its window will cover, a day earlier
(gonogo.watching.watch.capture_baseline).

    taken = take(conn, probe)                 # probe: the watch's control probe (a Metric)
    store(conn, taken)                        # + retention: 8 days, at most 3,000 samples
    runs = between(conn, queryids, start, end)  # runs of consecutive samples, no gap, no reset
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import psycopg

from gonogo.authoring import discover
from gonogo.apply import history
from gonogo.watching.analysis import Metric, read
from gonogo.postgres.sqlfile import query

_SQL = "samples.sql"
STATEMENTS = 50          # the app's top statements per sample (pg_stat_statements, most total time)
RETENTION = timedelta(days=8)
KEEP = 3000              # samples kept at most per database, newest first (8 days every 4 min)
GAP = 2.5                # consecutive samples further apart than this × the usual spacing: a gap
MAX_READ = 400           # samples one baseline reads at most (evenly thinned beyond)


@dataclass(frozen=True)
class Sample:
    """One moment of production: the probe's time (ms) and {queryid: (total ms, calls, pages,
    rows)} of the app's top statements, with when pg_stat_statements started counting them."""

    at: datetime
    since: datetime | None
    probe_ms: float | None
    statements: dict[int, tuple[float, float, float, float]] = field(default_factory=dict)


def take(conn: psycopg.Connection, probe: Metric, *, limit: int = STATEMENTS) -> Sample:
    """A sample now: the app's `limit` top statements (gonogo.authoring.discover's ranking, without
    gonogo's own and the catalog's) and the probe, read as the watch reads them."""
    found = discover.top_statements(conn, limit=limit)
    rows = conn.execute(query(_SQL, "statements_work"), {"queryids": [f.queryid for f in found]}).fetchall()
    at = datetime.now(timezone.utc)
    reading = read(conn, [probe])[probe.name]
    return Sample(at=at, since=found[0].since if found else None,
                  probe_ms=reading[0] if isinstance(reading, tuple) else None,
                  statements={int(q): tuple(float(v) for v in values) for q, *values in rows})


def store(conn: psycopg.Connection, sample: Sample, *, retention: timedelta = RETENTION, keep: int = KEEP,
          now: datetime | None = None) -> int:
    """Write the sample (gonogo's schema made if missing) and prune by `retention` and `keep`;
    returns how many samples the pruning removed. One transaction."""
    history.ensure(conn)
    with conn.transaction():
        sample_id = conn.execute(query(_SQL, "insert_sample"), {
            "at": sample.at, "since": sample.since, "probe_ms": sample.probe_ms}).fetchone()[0]
        with conn.cursor() as cur:
            cur.executemany(query(_SQL, "insert_statement"), [
                {"sample_id": sample_id, "queryid": q, "total_ms": ms, "calls": int(calls), "pages": int(pages),
                 "rows": int(rows)} for q, (ms, calls, pages, rows) in sample.statements.items()])
        pruned = conn.execute(query(_SQL, "prune"), {
            "oldest": (now or datetime.now(timezone.utc)) - retention, "keep": keep})
        return pruned.rowcount


def count(conn: psycopg.Connection) -> tuple[int, datetime | None, datetime | None]:
    """(samples kept, oldest, newest); (0, None, None) where the DAG never sampled."""
    if not conn.execute(query(_SQL, "exists")).fetchone()[0]:
        return 0, None, None
    return conn.execute(query(_SQL, "count")).fetchone()


def between(conn: psycopg.Connection, queryids: list[int], start: datetime, end: datetime) -> list[list[Sample]]:
    """The samples taken from start to end with the counters of `queryids`, as runs: a run
    ends where a sample is missing (a gap well beyond the usual spacing) or
    pg_stat_statements was reset or the server restarted, so that each pair of consecutive
    samples in a run is one true interval. Empty where gonogo never sampled this database."""
    if not conn.execute(query(_SQL, "exists")).fetchone()[0]:
        return []
    found: dict[datetime, Sample] = {}
    for at, since, probe_ms, queryid, *values in conn.execute(query(_SQL, "between"), {
            "queryids": queryids, "start": start, "end": end}):
        sample = found.setdefault(at, Sample(at, since, probe_ms, {}))
        if queryid is not None:
            sample.statements[int(queryid)] = tuple(float(v) for v in values)
    taken = list(found.values())
    if len(taken) > MAX_READ:
        step = -(-len(taken) // MAX_READ)
        taken = taken[::step]
    return runs(taken)


def runs(taken: list[Sample]) -> list[list[Sample]]:
    """Consecutive samples split at gaps (GAP × the median spacing) and at a counter reset."""
    if len(taken) < 2:
        return []
    spacing = statistics.median((b.at - a.at).total_seconds() for a, b in zip(taken, taken[1:]))
    out, run = [], [taken[0]]
    for before, after in zip(taken, taken[1:]):
        if (after.at - before.at).total_seconds() > GAP * spacing or after.since != before.since:
            out.append(run)
            run = []
        run.append(after)
    out.append(run)
    return [r for r in out if len(r) >= 2]
