"""What the app-impact benchmarks share: the recipe app loaded once, a fresh copy of it for every
run (CREATE DATABASE ... TEMPLATE, so that each method starts from the same rows), gonogo as the
DAG runs it by default, and what the app felt during a window of the run."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass


import sample_app
from gonogo_local.cluster import LocalCluster
from gonogo.postgres.target import Target
from gonogo.rehearsal.workload import Call, QueryStats
from gonogo_airflow.params import ROLLOUT_PARAMS
from gonogo_airflow.rollout import Rollout
from helpers import create_database, drop_database

SLOW_MS = 300.0  # an app call slower than this is one a user notices


@contextmanager
def loaded_app(cluster: LocalCluster, scale: float) -> Iterator[Target]:
    """The recipe app at `scale`, to copy from; dropped at the end."""
    target = create_database(cluster, f"bench_app_{str(scale).replace('.', '_')}")
    try:
        sample_app.load(target, scale)
        with target.connect("bench/analyze", guards=None) as conn:
            conn.execute("VACUUM ANALYZE")  # copies start with settled statistics and visibility
        yield target
    finally:
        drop_database(cluster, target.dbname)


@contextmanager
def fresh_copy(cluster: LocalCluster, template: Target) -> Iterator[Target]:
    """A new database with the template's rows, dropped at the end."""
    copy = create_database(cluster, "bench_run", template=template)
    try:
        yield copy
    finally:
        drop_database(cluster, copy.dbname)


def dag_defaults() -> Rollout:
    """The rollout as a run with the trigger form's defaults sees it: its .guards and .policy."""
    params = {name: param.value for name, param in ROLLOUT_PARAMS.items()}
    return Rollout(dag_id="gonogo_rollout", run_id="bench", task_id="production.apply_migrations", params=params)


@dataclass(frozen=True)
class Felt:
    """The app's calls that overlapped a window: how many, the slowest, p99, how many were slow."""

    calls: int
    max_ms: float
    p99_ms: float
    slow: int
    errors: int


def felt(calls: Sequence[Call], start: float, end: float, *, only: frozenset[str] | None = None) -> Felt:
    """What the app felt from `start` to `end` (time.monotonic()): every call that was running at
    some point of the window, also one that started before it; `only` keeps those queries."""
    inside = [c for c in calls if c.started < end and c.started + c.ms / 1000 > start
              and (only is None or c.query in only)]
    stats = QueryStats(durations_ms=[c.ms for c in inside])
    return Felt(calls=len(inside), max_ms=stats.max_ms, p99_ms=stats.p99_ms,
                slow=sum(c.ms > SLOW_MS for c in inside), errors=sum(c.error is not None for c in inside))
