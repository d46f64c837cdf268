"""Benchmark 3: the category backfill as the seed's single UPDATE against gonogo's batched one,
each on an idle table and under the app's writes to that table.

Every run starts from the same copy of the recipe app at SCALE with the step's file applied (the
dual-write trigger in place, as both ways need it), then maps Recipe.category onto "categoryId":

  single   the batch file's UPDATE over the whole key range, one statement, one transaction,
           under the seed's session timeouts (lock_timeout 2s, statement_timeout 5min);
  batched  gonogo.backfill.run_backfill as the DAG runs it: the rollout's session guards and
           retry policy, the manifest's batch size and pause.

"With writes": WRITE_CLIENTS sessions of the app's save_recipe (an UPDATE of one recipe, spread
over all of them) run for the whole backfill, with no timeouts, as the app does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

import benchlib
import sample_app
from appdb import SLOW_MS, Felt, dag_defaults, felt, fresh_copy, loaded_app
from gonogo.apply import backfill
from gonogo.batch import load_batch
from gonogo.postgres.execute import run_script
from gonogo.results import Verdict
from gonogo.postgres.target import SessionGuards, Target
from gonogo.rehearsal.workload import Workload

SCALE = 10
WRITE_CLIENTS = 2
BATCH = load_batch("20250115_recipe_fixes")
STEP = next(s for s in BATCH.steps if s.backfill)
SAVE_RECIPE = next(q for q in BATCH.queries if q.name == "save_recipe")
UNMAPPED = ('SELECT count(*) FROM "Recipe" r JOIN "Category" c ON c."companyId" = r."companyId" '
            'AND c."name" = r."category" WHERE r."categoryId" IS NULL')
METHODS = ("single", "batched")


@dataclass(frozen=True)
class Run:
    rows: int
    seconds: float
    longest_hold: float  # seconds: the longest transaction holding the backfill's row locks
    batches: int
    app: Felt | None  # the writes' latency during the backfill; None without writes
    terminated: str  # "yes", or why not

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def single_update(target: Target) -> tuple[int, list[float]]:
    """The whole backfill in one UPDATE: rows mapped, and its one transaction's duration."""
    with target.connect("bench/single", guards=SessionGuards()) as conn:
        high = conn.execute('SELECT max("id") FROM "Recipe"').fetchone()[0]
        began = time.monotonic()
        with conn.transaction():
            rows = conn.execute(STEP.backfill.query, {"from_key": 0, "to_key": high}, prepare=False).rowcount
        return rows, [time.monotonic() - began]


def batched(target: Target, monkeypatch: pytest.MonkeyPatch) -> tuple[int, list[float]]:
    """run_backfill as the DAG runs it: rows mapped, and each batch transaction's duration
    (timed around gonogo.backfill._one_batch, which opens and commits the transaction)."""
    holds: list[float] = []
    one_batch = backfill._one_batch

    def timed(*args, **kwargs):
        began = time.monotonic()
        try:
            return one_batch(*args, **kwargs)
        finally:
            holds.append(time.monotonic() - began)

    rollout = dag_defaults()
    with monkeypatch.context() as patch, target.connect("bench/batched", guards=rollout.guards) as conn:
        patch.setattr(backfill, "_one_batch", timed)
        result = backfill.run_backfill(conn, STEP, run_id="bench", policy=rollout.policy, log=lambda _: None)
    assert result.verdict is Verdict.PASS, result.message
    return result.details[0]["rows_mapped"], holds


def run_once(target: Target, method: str, writes: bool, monkeypatch: pytest.MonkeyPatch) -> Run:
    with target.connect("bench/check", guards=None) as conn:
        to_map = conn.execute(UNMAPPED).fetchone()[0]
    assert to_map > 0, "nothing to backfill: the template is not what this bench expects"
    params = lambda query, i: sample_app.query_params(query.name, i, SCALE)  # noqa: E731 - every recipe, not one
    workload = Workload(target, [SAVE_RECIPE], clients=WRITE_CLIENTS, app="bench/app", params=params,
                        keep_calls=True) if writes else None
    terminated = "yes"
    if workload:
        workload.start()
    started = time.monotonic()
    try:
        rows, holds = single_update(target) if method == "single" else batched(target, monkeypatch)
    except Exception as exc:  # noqa: BLE001 - a backfill that does not end is a result of this bench
        rows, holds, terminated = 0, [], f"no: {str(exc).strip().splitlines()[0]}"
    finished = time.monotonic()
    if workload:
        workload.stop()
    with target.connect("bench/check", guards=None) as conn:
        left = conn.execute(UNMAPPED).fetchone()[0]
    assert terminated != "yes" or (left == 0 and rows == to_map), f"{method}: {left} rows left, {rows} mapped"
    app = felt(workload.calls, started, finished) if workload else None
    assert app is None or app.calls > 0, f"{method}: the app's writes did not run"
    return Run(rows, finished - started, max(holds, default=0.0), len(holds), app, terminated)


@pytest.fixture(scope="module")
def template(prod_cluster):
    """The app at SCALE with the step's file applied: the trigger in place, nothing mapped yet."""
    with loaded_app(prod_cluster, SCALE) as target:
        with target.connect("bench/setup", guards=None) as conn:
            run_script(conn, STEP.forward)
            counts = sample_app.row_counts(conn)
        print(f"\nscale {SCALE}: {counts['Recipe']} recipes, {counts['Category']} categories", flush=True)
        yield target


def test_backfill_single_update_against_batched(prod_cluster, template, monkeypatch):
    cases = [(method, writes) for writes in (False, True) for method in METHODS]
    runs: dict[tuple[str, bool], list[Run]] = {case: [] for case in cases}
    for _ in range(benchlib.REPEAT):
        for method, writes in cases:  # side by side in every repetition
            with fresh_copy(prod_cluster, template) as target:
                runs[method, writes].append(run_once(target, method, writes, monkeypatch))

    def med(case, value) -> float:
        return benchlib.median([value(r) for r in runs[case]])

    def app_cell(case, value, unit: str = "") -> str:
        return f"{med(case, lambda r: value(r.app)):.0f}{unit}" if case[1] else "—"

    rows = []
    for method, writes in cases:
        case = (method, writes)
        rate = med(case, lambda r: r.rows_per_second)
        rows.append([
            method, "yes" if writes else "no", f"{med(case, lambda r: r.rows):.0f}",
            f"{rate:,.0f}", benchlib.ratio(rate, med(("single", writes), lambda r: r.rows_per_second)),
            f"{med(case, lambda r: r.longest_hold) * 1000:,.0f}", f"{med(case, lambda r: r.batches):.0f}",
            app_cell(case, lambda a: a.max_ms), app_cell(case, lambda a: a.slow),
            ", ".join(sorted({r.terminated for r in runs[case]}))])
    fill = STEP.backfill
    benchlib.table(
        "backfill", f"Backfill of Recipe.categoryId: one UPDATE against gonogo's batches (scale {SCALE})",
        ["method", "app writes", "rows", "rows/s", "÷ single", "longest lock hold ms", "transactions",
         "app max write ms", f"app writes > {SLOW_MS:.0f} ms", "terminated"],
        rows,
        notes=[f"single: the batch file's UPDATE over every key in one transaction. batched: run_backfill with "
               f"the manifest's batch_size {fill.batch_size} and pause_ms {fill.pause_ms}, the DAG's guards "
               f"and retry policy; each batch locks its rows, checksums them, updates, checksums again.",
               "Longest lock hold: the longest transaction that held backfilled rows locked (the single "
               "UPDATE's whole transaction; for batched, the slowest batch, timed from BEGIN to COMMIT).",
               f"App writes: {WRITE_CLIENTS} sessions of save_recipe (one recipe's UPDATE, over all recipes), "
               f"no timeouts; every call running at some moment of the backfill counts."])
    assert all(len(r) == benchlib.REPEAT for r in runs.values())
