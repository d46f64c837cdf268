"""Benchmark 1: what the app feels when a migration step meets a lock blocker, three ways.

The recipe app (scale 1) serves its top queries from 4 clients with no timeouts, as the app
does. A transaction takes ACCESS SHARE on "Recipe" (BEGIN; SELECT ... LIMIT 1) and commits
BLOCKER_SECONDS later; just after it began, the step starts: the seed's CHECK constraints
migration, whose ALTER TABLE "Recipe" ... ADD CONSTRAINT ... NOT VALID needs ACCESS EXCLUSIVE.
While that ALTER waits, every app query on "Recipe" queues behind it. Applied as:

  naive   psql -f, no timeouts: the ALTER waits the blocker out, the app waits with it;
  seed    psql -f under the seed's lock_timeout 2s, ON_ERROR_STOP, run again at once until it
          succeeds (the file is idempotent), as a shell loop would;
  gonogo  gonogo.postgres.execute.run_script with exactly the DAG's defaults: the rollout's session
          guards and RetryPolicy, built from the trigger form's default params.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass

import pytest

import benchlib
from appdb import SLOW_MS, Felt, dag_defaults, felt, fresh_copy, loaded_app
from gonogo.batch import load_batch
from gonogo.postgres.pgbin import find_bindir
from gonogo.postgres.execute import run_script
from gonogo.postgres.target import Target
from gonogo.rehearsal.workload import Workload

SCALE = 1
CLIENTS = 4
BLOCKER_SECONDS = 15.0
WARMUP_SECONDS = 1.0  # the app runs on its own first, so its sessions and caches are warm
STEP_DELAY_SECONDS = 0.1  # the step starts this long after the blocker took its lock
SEED_MAX_RUNS = 200  # the seed's "until done", bounded so that a broken bench cannot hang
BATCH = load_batch("20250115_recipe_fixes")
STEP = next(s for s in BATCH.steps if s.name == "20250115140000_add_check_constraints")
METHODS = ("naive", "seed", "gonogo")


@dataclass(frozen=True)
class Run:
    """One run of one method: what the app felt during the step, and the step's timing."""

    app: Felt
    step_seconds: float
    after_blocker_seconds: float  # from the blocker's COMMIT to the step's end
    attempts: int


def psql(target: Target, options: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **target.libpq_env(), "PGOPTIONS": options, "PGAPPNAME": "bench/psql"}
    return subprocess.run([str(find_bindir() / "psql"), "-X", "-q", *extra, "-f", str(STEP.forward.path)],
                          env=env, capture_output=True, text=True)


def apply_naive(target: Target) -> int:
    done = psql(target, "")
    assert done.returncode == 0 and "ERROR" not in done.stderr, done.stderr
    return 1


def apply_seed(target: Target) -> int:
    for run in range(1, SEED_MAX_RUNS + 1):
        done = psql(target, "-c lock_timeout=2s -c statement_timeout=5min", "-v", "ON_ERROR_STOP=1")
        if done.returncode == 0:
            return run
        assert "lock timeout" in done.stderr, done.stderr
    raise AssertionError(f"the seed's loop did not get its lock in {SEED_MAX_RUNS} runs")


def apply_gonogo(target: Target) -> int:
    rollout = dag_defaults()
    with target.connect("bench/gonogo", guards=rollout.guards) as conn:
        script = run_script(conn, STEP.forward, policy=rollout.policy)
    return max(s.attempts for s in script.statements)


APPLY = {"naive": apply_naive, "seed": apply_seed, "gonogo": apply_gonogo}


def hold_access_share(target: Target, taken: threading.Event, ended: list[float]) -> None:
    """The blocker: a transaction that read "Recipe" and stays open BLOCKER_SECONDS."""
    with target.connect("bench/blocker", guards=None, autocommit=False) as conn:
        conn.execute('SELECT "id" FROM "Recipe" LIMIT 1').fetchall()
        taken.set()
        time.sleep(BLOCKER_SECONDS)
        conn.commit()
        ended.append(time.monotonic())


def run_once(target: Target, method: str) -> Run:
    taken, ended = threading.Event(), []
    blocker = threading.Thread(target=hold_access_share, args=(target, taken, ended), name="blocker")
    with Workload(target, BATCH.queries, clients=CLIENTS, app="bench/app", keep_calls=True, commit_writes=True) as workload:
        time.sleep(WARMUP_SECONDS)
        blocker.start()
        assert taken.wait(10), "the blocker did not get its lock"
        time.sleep(STEP_DELAY_SECONDS)
        started = time.monotonic()
        attempts = APPLY[method](target)
        finished = time.monotonic()
        blocker.join()
        time.sleep(0.5)  # calls queued behind the step finish and are recorded
    with target.connect("bench/check", guards=None) as conn:
        added = conn.execute("SELECT count(*) FROM pg_constraint WHERE conname = 'recipe_selling_price_positive' "
                             "AND convalidated").fetchone()[0]
    assert added == 1, f"{method}: the step did not run to the end"
    app = felt(workload.calls, started, finished)
    assert app.calls > 0, f"{method}: no app call overlapped the step"
    return Run(app, finished - started, finished - ended[0], attempts)


@pytest.fixture(scope="module")
def template(prod_cluster):
    with loaded_app(prod_cluster, SCALE) as target:
        yield target


def test_app_impact_under_a_lock_blocker(prod_cluster, template):
    runs: dict[str, list[Run]] = {m: [] for m in METHODS}
    for _ in range(benchlib.REPEAT):
        for method in METHODS:  # side by side in every repetition: the machine's noise hits all three
            with fresh_copy(prod_cluster, template) as target:
                runs[method].append(run_once(target, method))

    def med(method: str, value) -> float:
        return benchlib.median([value(r) for r in runs[method]])

    rollout = dag_defaults()
    policy = rollout.policy
    naive_max = med("naive", lambda r: r.app.max_ms)
    rows = [[method,
             f"{med(method, lambda r: r.app.max_ms):.0f}",
             benchlib.ratio(naive_max, med(method, lambda r: r.app.max_ms)),
             f"{med(method, lambda r: r.app.p99_ms):.0f}",
             f"{med(method, lambda r: r.app.slow):.0f} of {med(method, lambda r: r.app.calls):.0f}",
             f"{med(method, lambda r: r.step_seconds):.1f}",
             f"{med(method, lambda r: r.after_blocker_seconds):.1f} "
             f"(max {max(r.after_blocker_seconds for r in runs[method]):.1f})",
             f"{med(method, lambda r: r.attempts):.0f}"]
            for method in METHODS]
    benchlib.table(
        "locks", f"App impact under a {BLOCKER_SECONDS:.0f} s lock blocker (recipe app, scale {SCALE}, "
                 f"{CLIENTS} clients, no app timeouts)",
        ["method", "app max ms", "naive max ÷ this", "app p99 ms", f"app calls > {SLOW_MS:.0f} ms",
         "step wall s", "done s after blocker ended", "attempts"],
        rows,
        notes=[f"Step: {STEP.forward.path.name} (ALTER TABLE \"Recipe\" ... NOT VALID needs ACCESS EXCLUSIVE); "
               f"blocker: a transaction holding ACCESS SHARE on \"Recipe\" for {BLOCKER_SECONDS:.0f} s, the step "
               f"starting {STEP_DELAY_SECONDS} s after it.",
               "App calls: every call of the workload running at some moment between the step's start and "
               "its end. `attempts`: psql runs for naive and seed, lock attempts of the slowest statement "
               "for gonogo.",
               "naive: `psql -f`, no timeouts. seed: `psql -f` with lock_timeout 2s and ON_ERROR_STOP, run "
               "again at once until it succeeds. gonogo: run_script with the DAG's defaults: session "
               f"lock_timeout {rollout.guards.lock_timeout}, per attempt {policy.lock_timeout}, "
               f"{policy.attempts} attempts, backoff {policy.first_backoff} s doubling to {policy.max_backoff} s, "
               f"±{policy.jitter:.0%} jitter."])
    assert all(len(r) == benchlib.REPEAT for r in runs.values())
