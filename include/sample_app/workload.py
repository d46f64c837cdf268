"""The app's traffic: its top queries, round-robin, from several clients at once.

The clients are gonogo's own Workload (gonogo.rehearsal.workload), fed with parameters that vary per
execution (query_params) so that a run touches many rows. Database errors are counted and
the first one per query is kept, never raised.
Usage: python -m sample_app.workload --dsn ... --seconds 10
"""

from __future__ import annotations

import argparse

from gonogo.authoring.queries import Query
from gonogo.postgres.target import Target
from gonogo.rehearsal.workload import QueryStats, Workload, WorkloadStats
from sample_app import query_params, top_queries

__all__ = ["APPLICATION_NAME", "QueryStats", "WorkloadStats", "main", "run_workload"]

APPLICATION_NAME = "sample_app/workload"


def run_workload(target: Target | str, *, iterations: int | None = None, seconds: float | None = None,
                 clients: int = 1, scale: float = 1.0) -> WorkloadStats:
    """Run every top query round-robin on `clients` connections until done.

    iterations: rounds per client, each round running every query once; seconds: wall-clock
    limit. With both, whichever ends first; with neither, one round. `scale` is the scale the
    data was loaded at, so that the parameters name existing rows. The i-th round of client c
    uses query_params(name, i * clients + c, scale): the same run sends the same parameters.
    """
    if iterations is None and seconds is None:
        iterations = 1
    queries = [Query(name, sql) for name, sql in top_queries().items()]
    with Workload(target, queries, clients, application_name=APPLICATION_NAME, rounds=iterations,
                  params=lambda query, i: query_params(query.name, i, scale)) as workload:
        workload.wait(seconds)
    return workload.stats


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
