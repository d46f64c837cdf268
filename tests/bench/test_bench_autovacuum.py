"""Benchmark: what the app feels when a migration step meets a real autovacuum on its table.

The recipe app (scale 1) serves its top queries from 4 clients with no timeouts. "Recipe" is
given autovacuum thresholds of 0 and a cost limit of 1 (so autovacuum starts on it at once and
works slowly), every row is updated, and the step starts once pg_stat_activity shows the
autovacuum worker on "Recipe": the seed's CHECK constraints migration, whose ALTER TABLE
"Recipe" ... NOT VALID needs ACCESS EXCLUSIVE, which autovacuum's SHARE UPDATE EXCLUSIVE blocks.
Autovacuum yields only to a request that has waited deadlock_timeout (1 s). Applied as:

  seed    psql -f under the seed's lock_timeout 2s, ON_ERROR_STOP, run again at once until it
          succeeds: its 2 s wait outlasts deadlock_timeout, autovacuum cancels itself, and the
          app queues behind the waiting ALTER meanwhile;
  gonogo  run_script with the DAG's defaults (200 ms attempts): after the first failed attempt
          a watching session sees the autovacuum worker among the blockers and cancels it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

import benchlib
from appdb import SLOW_MS, Felt, dag_defaults, felt, fresh_copy, loaded_app
from gonogo.postgres.execute import run_script
from gonogo.postgres.target import Target
from gonogo.rehearsal.workload import Workload
from test_bench_locks import BATCH, CLIENTS, SCALE, STEP, WARMUP_SECONDS, apply_seed

METHODS = ("seed", "gonogo")
_AUTOVACUUM_ON_RECIPE = ("SELECT pid FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' "
                         "AND datname = current_database() AND query LIKE '%Recipe%'")


@dataclass(frozen=True)
class Run:
    app: Felt
    step_seconds: float
    attempts: int
    met: str  # what gonogo's retries met (autovacuum canceled), "" for psql


def apply_gonogo(target: Target) -> tuple[int, str]:
    rollout = dag_defaults()
    with target.connect("bench/gonogo", guards=rollout.guards) as conn:
        script = run_script(conn, STEP.forward, policy=rollout.policy)
    return max(s.attempts for s in script.statements), script.tally.describe()


def slow_autovacuum_on_recipe(target: Target) -> None:
    """Make autovacuum start on "Recipe" and work slowly; return once it runs there."""
    with target.connect("bench/dirty", guards=None) as conn:
        conn.execute('ALTER TABLE "Recipe" SET (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0, '
                     'autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1)')
        conn.execute('UPDATE "Recipe" SET "name" = "name"')
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("SELECT 1")
        deadline = time.monotonic() + 120
        while not conn.execute(_AUTOVACUUM_ON_RECIPE).fetchone():
            assert time.monotonic() < deadline, "autovacuum did not start on Recipe"
            time.sleep(0.05)


def run_once(target: Target, method: str) -> Run:
    slow_autovacuum_on_recipe(target)
    with Workload(target, BATCH.queries, clients=CLIENTS, app="bench/app", keep_calls=True,
                  commit_writes=True) as workload:
        time.sleep(WARMUP_SECONDS)
        with target.connect("bench/check", guards=None) as conn:
            assert conn.execute(_AUTOVACUUM_ON_RECIPE).fetchone(), "autovacuum ended before the step"
        started = time.monotonic()
        if method == "gonogo":
            attempts, met = apply_gonogo(target)
        else:
            attempts, met = apply_seed(target), ""
        finished = time.monotonic()
        time.sleep(0.5)  # calls queued behind the step finish and are recorded
    with target.connect("bench/check", guards=None) as conn:
        added = conn.execute("SELECT count(*) FROM pg_constraint WHERE conname = 'recipe_selling_price_positive' "
                             "AND convalidated").fetchone()[0]
    assert added == 1, f"{method}: the step did not run to the end"
    return Run(felt(workload.calls, started, finished), finished - started, attempts, met)


@pytest.fixture(scope="module")
def template(prod_cluster):
    with prod_cluster.target().connect("bench/settings", guards=None) as conn:
        conn.execute("ALTER SYSTEM SET autovacuum_naptime = '1s'")  # autovacuum reaches a new copy in seconds
        conn.execute("SELECT pg_reload_conf()")
        try:
            with loaded_app(prod_cluster, SCALE) as target:
                yield target
        finally:
            conn.execute("ALTER SYSTEM RESET autovacuum_naptime")
            conn.execute("SELECT pg_reload_conf()")


def test_app_impact_under_an_autovacuum_blocker(prod_cluster, template):
    runs: dict[str, list[Run]] = {m: [] for m in METHODS}
    for _ in range(benchlib.REPEAT):
        for method in METHODS:
            with fresh_copy(prod_cluster, template) as target:
                runs[method].append(run_once(target, method))

    def med(method: str, value) -> float:
        return benchlib.median([value(r) for r in runs[method]])

    policy = dag_defaults().policy
    rows = [[method,
             f"{med(method, lambda r: r.app.max_ms):.0f} (max {max(r.app.max_ms for r in runs[method]):.0f})",
             f"{med(method, lambda r: r.app.p99_ms):.0f}",
             f"{med(method, lambda r: r.app.slow):.0f} of {med(method, lambda r: r.app.calls):.0f}",
             f"{med(method, lambda r: r.step_seconds):.1f}",
             f"{med(method, lambda r: r.attempts):.0f}",
             "; ".join(dict.fromkeys(r.met.split(" pid ")[0] + (" canceled" if "canceled" in r.met else "")
                                     for r in runs[method] if r.met)) or "—"]
            for method in METHODS]
    benchlib.table(
        "autovacuum", f"App impact when the step meets a real autovacuum on its table (recipe app, scale {SCALE}, "
                      f"{CLIENTS} clients, no app timeouts)",
        ["method", "app max ms", "app p99 ms", f"app calls > {SLOW_MS:.0f} ms", "step wall s", "attempts",
         "gonogo met"],
        rows,
        notes=[f"Step: {STEP.forward.path.name}; blocker: autovacuum on \"Recipe\" (thresholds 0, cost limit 1, "
               "cost delay 100 ms, every row updated first), running when the step starts.",
               "seed: `psql -f` with lock_timeout 2s, run again until it succeeds (autovacuum cancels itself "
               f"after deadlock_timeout). gonogo: run_script with the DAG's defaults ({policy.lock_timeout} "
               "attempts), canceling the autovacuum it finds among its blockers. Goal: app max ≤ 300 ms, step done."])
    assert all(len(r) == benchlib.REPEAT for r in runs.values())
