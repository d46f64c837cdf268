"""The app's traffic: its top queries, round-robin, from several clients at once.

A benchmark runs this while migrations take locks, to see what the app would have felt.
So database errors are counted and the first one per query is kept, never raised, and a
broken connection is reopened. Usage: python -m sample_app.workload --dsn ... --seconds 10
"""

from __future__ import annotations

import argparse
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg
from psycopg.conninfo import make_conninfo

from gonogo.target import Target
from sample_app import query_params, top_queries

APPLICATION_NAME = "sample_app/workload"


@dataclass
class QueryStats:
    """One query's executions; latencies cover failed calls too (a lock wait is felt either way)."""

    calls: int = 0
    errors: int = 0
    first_error: str | None = None
    durations_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def mean_ms(self) -> float:
        return sum(self.durations_ms) / len(self.durations_ms) if self.durations_ms else 0.0

    @property
    def max_ms(self) -> float:
        return max(self.durations_ms, default=0.0)

    @property
    def p99_ms(self) -> float:
        if not self.durations_ms:
            return 0.0
        ordered = sorted(self.durations_ms)
        return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]

    def record(self, ms: float, error: str | None) -> None:
        self.calls += 1
        self.durations_ms.append(ms)
        if error is not None:
            self.errors += 1
            if self.first_error is None:
                self.first_error = error

    def merge(self, other: QueryStats) -> None:
        self.calls += other.calls
        self.errors += other.errors
        self.durations_ms.extend(other.durations_ms)
        if self.first_error is None:
            self.first_error = other.first_error


@dataclass
class WorkloadStats:
    """Per-query stats of one run, and its totals."""

    queries: dict[str, QueryStats]
    seconds: float
    clients: int

    @property
    def calls(self) -> int:
        return sum(q.calls for q in self.queries.values())

    @property
    def errors(self) -> int:
        return sum(q.errors for q in self.queries.values())

    @property
    def qps(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else 0.0

    def table(self) -> str:
        """A plain-text table, one line per query and a total."""
        width = max(len(name) for name in [*self.queries, "total"])
        lines = [f"{'query':<{width}}  {'calls':>7}  {'errors':>6}  {'mean_ms':>8}  {'p99_ms':>8}  {'max_ms':>8}"]
        for name, q in self.queries.items():
            lines.append(f"{name:<{width}}  {q.calls:>7}  {q.errors:>6}  {q.mean_ms:>8.2f}  "
                         f"{q.p99_ms:>8.2f}  {q.max_ms:>8.2f}")
        lines.append(f"{'total':<{width}}  {self.calls:>7}  {self.errors:>6}  "
                     f"({self.clients} clients, {self.seconds:.1f}s, {self.qps:.0f} queries/s)")
        for name, q in self.queries.items():
            if q.first_error:
                lines.append(f"first error of {name}: {q.first_error}")
        return "\n".join(lines)


def run_workload(target: Target | str, *, iterations: int | None = None, seconds: float | None = None,
                 clients: int = 1, scale: float = 1.0) -> WorkloadStats:
    """Run every top query round-robin on `clients` connections until done.

    iterations: rounds per client, each round running every query once; seconds: wall-clock
    limit. With both, whichever ends first; with neither, one round. `scale` is the scale the
    data was loaded at, so that the parameters name existing rows. The i-th round of client c
    uses query_params(name, i * clients + c, scale): the same run sends the same parameters.
    """
    if clients < 1:
        raise ValueError("clients must be at least 1")
    if iterations is None and seconds is None:
        iterations = 1
    if isinstance(target, Target):
        conninfo = target.conninfo(application_name=APPLICATION_NAME)
    else:
        conninfo = make_conninfo(target, application_name=APPLICATION_NAME)
    queries = top_queries()
    start = time.monotonic()
    deadline = start + seconds if seconds is not None else None
    stop = threading.Event()

    def client(number: int) -> dict[str, QueryStats]:
        stats = {name: QueryStats() for name in queries}
        conn: psycopg.Connection | None = None
        round_ = 0
        try:
            while iterations is None or round_ < iterations:
                for name, sql in queries.items():
                    if stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
                        return stats
                    params = query_params(name, round_ * clients + number, scale)
                    began = time.perf_counter()
                    error = None
                    try:
                        if conn is None or conn.closed:
                            conn = psycopg.connect(conninfo, autocommit=True)
                        conn.execute(sql, params).fetchall()
                    except psycopg.Error as exc:
                        error = str(exc).strip() or type(exc).__name__
                    stats[name].record((time.perf_counter() - began) * 1000, error)
                    if error is not None and (conn is None or conn.closed):
                        time.sleep(0.05)  # the server is unreachable: do not spin
                round_ += 1
            return stats
        finally:
            if conn is not None:
                conn.close()

    with ThreadPoolExecutor(max_workers=clients, thread_name_prefix="workload") as pool:
        futures = [pool.submit(client, number) for number in range(clients)]
        try:
            per_client = [future.result() for future in futures]
        except BaseException:
            stop.set()
            raise
    merged = {name: QueryStats() for name in queries}
    for stats in per_client:
        for name, q in stats.items():
            merged[name].merge(q)
    return WorkloadStats(queries=merged, seconds=time.monotonic() - start, clients=clients)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sample_app.workload", description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="libpq connection string or URI of the app database")
    parser.add_argument("--seconds", type=float, help="how long to run (default: one round unless --iterations)")
    parser.add_argument("--iterations", type=int, help="rounds per client, each running every query once")
    parser.add_argument("--clients", type=int, default=1, help="concurrent connections (default 1)")
    parser.add_argument("--scale", type=float, default=1.0, help="scale the data was loaded at (default 1)")
    args = parser.parse_args(argv)
    stats = run_workload(args.dsn, iterations=args.iterations, seconds=args.seconds,
                         clients=args.clients, scale=args.scale)
    print(stats.table())
    return 1 if stats.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
