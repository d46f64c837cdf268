"""Benchmark: what the dry run costs against what the migration costs.

One step on a copy of the recipe app at SCALE (1 M RecipeItem rows): ADD COLUMN, then a
whole-table UPDATE that fills it in; its rollback drops the column. Measured, each on a fresh copy:

  bare        the step's file, then its rollback, run alone (gonogo.postgres.execute.run_script);
  dry run     what the DAG's dry_run group does: baseline (plans of the app's top queries),
              every step under the app's traffic, the rollback rehearsal (the rollbacks under
              traffic in one transaction rolled back at the end, the schema compared before it),
              the observability diff;
              paced:       the app's queries at their rates (gonogo.rehearsal.workload.paced: the manifest's,
                           production's, else the default 10 calls/s each, at most 200 calls/s),
                           kept within 0.25 busy sessions (workload.max_busy_sessions);
              closed loop: as fast as 2 clients go, what the dry run did before.

Cost = dry-run wall time ÷ (bare apply + bare rollback); the goal is ≤ 2. Before the rehearsal
ran in a rolled-back transaction it applied the batch again after its rollbacks, so the
whole-table UPDATE ran twice and the cost was ≥ 2 by construction.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

import benchlib
import sample_app
from appdb import fresh_copy, loaded_app
from gonogo.rehearsal import dryrun
from gonogo.batch import load_batch
from gonogo.context import RunContext
from gonogo.postgres.execute import run_script
from gonogo.results import applied_steps, to_dicts
from gonogo.postgres.target import SessionGuards

SCALE = 10  # 1,000,000 RecipeItem rows
APP = Path(sample_app.__file__).parent
UPDATE = 'UPDATE "RecipeItem" SET "note" = \'checked\';\n'
PACES = {"paced": {}, "closed loop": {"default_calls_per_second": 1e6, "max_calls_per_second": 1e9,
                                      "max_busy_sessions": 1e9}}


def quiet(_):
    pass


def batch_in(root: Path, pace: dict):
    folder = root / "whole_table_update"
    (folder / "migrations").mkdir(parents=True, exist_ok=True)
    (folder / "migrations/add_note.sql").write_text('ALTER TABLE "RecipeItem" ADD COLUMN "note" text;\n' + UPDATE)
    (folder / "migrations/add_note_rollback.sql").write_text('ALTER TABLE "RecipeItem" DROP COLUMN "note";\n')
    manifest = {"id": folder.name, "title": "a whole-table UPDATE", "top_queries": str(APP / "queries.sql"),
                "query_params": str(APP / "query_params.yaml"), "workload": pace,
                "steps": [{"order": 1, "file": "migrations/add_note.sql",
                           "rollback": "migrations/add_note_rollback.sql", "kind": "backfill"}]}
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return load_batch(folder.name, root=root)


@pytest.fixture(scope="module")
def template(prod_cluster):
    with loaded_app(prod_cluster, SCALE) as target:
        yield target


def bare(target, batch) -> tuple[float, float]:
    step = batch.steps[0]
    with target.connect("bench/bare", guards=SessionGuards()) as conn:
        started = time.monotonic()
        run_script(conn, step.forward)
        applied = time.monotonic()
        run_script(conn, step.rollback)
        return applied - started, time.monotonic() - applied


def dry_run(target, batch) -> dict[str, float]:
    ctx = RunContext(batch=batch, production=target, staging=target, run_id="bench", app="bench",
                     folder=Path("/nonexistent"), guards=SessionGuards())
    times, started = {}, time.monotonic()
    baseline = dryrun.capture_baseline(ctx)
    times["baseline"] = time.monotonic() - started
    mark = time.monotonic()
    applied = dryrun.apply_all(ctx, baseline, log=quiet)
    times["apply"] = time.monotonic() - mark
    mark = time.monotonic()
    dryrun.rehearse_rollbacks(ctx, baseline, applied_steps(to_dicts(applied)), log=quiet)
    times["rehearsal"] = time.monotonic() - mark
    mark = time.monotonic()
    dryrun.compare_observability(ctx, baseline)
    times["observability"] = time.monotonic() - mark
    times["total"] = time.monotonic() - started
    return times


def test_dry_run_cost_against_bare_apply_and_rollback(prod_cluster, template, tmp_path):
    batches = {name: batch_in(tmp_path / name.replace(" ", "_"), pace) for name, pace in PACES.items()}
    bares: list[tuple[float, float]] = []
    runs: dict[str, list[dict]] = {name: [] for name in PACES}
    for _ in range(benchlib.REPEAT):
        with fresh_copy(prod_cluster, template) as target:
            bares.append(bare(target, batches["paced"]))
        for name, batch in batches.items():
            with fresh_copy(prod_cluster, template) as target:
                runs[name].append(dry_run(target, batch))

    apply_s = benchlib.median([a for a, _ in bares])
    rollback_s = benchlib.median([r for _, r in bares])
    rows = [["bare apply + rollback", f"{apply_s:.1f} + {rollback_s:.2f}", "—", "—", "—", "—",
             f"{apply_s + rollback_s:.1f}", "1.0×"]]
    for name, measured in runs.items():
        med = {k: benchlib.median([m[k] for m in measured]) for k in measured[0]}
        rows.append([f"dry run, app {name}", "—", f"{med['baseline']:.1f}", f"{med['apply']:.1f}",
                     f"{med['rehearsal']:.1f}", f"{med['observability']:.1f}", f"{med['total']:.1f}",
                     benchlib.ratio(med["total"], apply_s + rollback_s)])
    benchlib.table(
        "dryrun_cost", f"Dry run cost: a whole-table UPDATE of RecipeItem (scale {SCALE}: 1 M rows)",
        ["run", "bare apply + rollback (s)", "baseline (s)", "steps under traffic (s)",
         "rollback rehearsal (s)", "observability (s)", "wall time (s)", "÷ bare"],
        rows,
        notes=["Goal: dry run ÷ (bare apply + bare rollback) ≤ 2. Paced: the app's 12 top queries at the default "
               "10 calls/s each (no rates known for written queries), scaled down to keep within 0.25 busy "
               "sessions; closed loop: 2 clients as fast as they go, no budget.",
               "The rollback (DROP COLUMN) runs in the rehearsal's transaction, rolled back: the whole-table "
               "UPDATE runs once."])
