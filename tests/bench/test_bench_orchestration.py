"""Benchmark 4: what Airflow costs around gonogo's work.

- Parse time: Airflow's own `airflow dags report` for dags/gonogo_rollout.py, in a fresh process
  as the DAG processor parses it, beside a minimal DAG built from the same Airflow pieces (a task
  group, @task, the approval operator): the difference is what gonogo's file itself adds. And
  dags/gonogo_batches.py over a batches folder of 1, 10 and 50 batches (a DAG each, a node per
  migration) beside plain Airflow DAGs of the same shape: what each batch adds of gonogo's own.
- The rehearsal's wall time: the whole DAG under dag.test() as tests/dags runs it (the app
  querying production, the approval answered through Airflow's API by local.Approver), answered
  "Reject", so the run ends after the approval and production keeps its data for the next
  repetition. Each TaskInstance's start and end, grouped by task group.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

import benchlib

SCALES = benchlib.scales("1,10")
GROUPS = ("prepare", "preflight", "dry_run", "decide", "production", "watch", "report_outcome")
APPROVAL = "decide.approve_rollout"
AIRFLOW = str(Path(sys.executable).parent / "airflow")

# Airflow's share of the parse: the imports and objects any DAG of this shape needs.
FLOOR_DAG = '''
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG, TaskGroup, task

@task
def work() -> None:
    pass

with DAG(dag_id="floor", schedule=None):
    with TaskGroup("group"):
        work()
    ApprovalOperator(task_id="approve", subject="approve?")
'''


def parse_seconds(dags_folder: Path, file: str) -> float:
    """`airflow dags report`'s parse duration of one file of dags_folder, in a fresh process."""
    env = {**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder)}
    out = subprocess.run([AIRFLOW, "dags", "report", "--output", "json"], env=env, capture_output=True,
                         text=True, check=True, timeout=120)
    # Airflow's warnings land on stdout too: the report is the one JSON line
    report = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("[")))
    entry = next(e for e in report if e["file"].endswith(file))
    hours, minutes, seconds = entry["duration"].split(":")
    return timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds)).total_seconds()


def test_dag_parse_time(rollout_dag, tmp_path):
    """rollout_dag: the session's metadata database is migrated, which the report needs."""
    (tmp_path / "floor.py").write_text(FLOOR_DAG)
    dags = Path(rollout_dag.fileloc).parent
    gonogo, floor = [], []
    for _ in range(benchlib.REPEAT):
        gonogo.append(parse_seconds(dags, "gonogo_rollout.py"))
        floor.append(parse_seconds(tmp_path, "floor.py"))
    rows = [["dags/gonogo_rollout.py", f"{benchlib.median(gonogo):.3f}", f"{min(gonogo):.3f}"],
            ["minimal DAG, same Airflow pieces", f"{benchlib.median(floor):.3f}", f"{min(floor):.3f}"],
            ["what gonogo's file adds", f"{benchlib.median(gonogo) - benchlib.median(floor):.3f}", ""]]
    benchlib.table("parse", "DAG parse time (airflow dags report)", ["DAG file", "median s", "best s"], rows,
                   notes=[f"{len(rollout_dag.tasks)} tasks. Each parse runs in a new `airflow dags report` process, "
                          "so it pays Airflow's lazy imports (@task's PythonOperator, timetables) as a fresh DAG "
                          "processor does: the minimal DAG shows that share."])


def parse_with_batches(count: int, tmp_path: Path) -> float:
    """dags/gonogo_batches.py's parse duration over a batches folder of `count` copies of the
    shipped batch's manifest (7 steps each; its id made unique)."""
    from gonogo.batches import SHIPPED_BATCHES

    manifest = (SHIPPED_BATCHES / "20250115_recipe_fixes" / "manifest.yaml").read_text()
    root = tmp_path / f"batches_{count}"
    for i in range(count):
        batch_id = f"2025011{i:04d}_copy"
        (root / batch_id).mkdir(parents=True)
        (root / batch_id / "manifest.yaml").write_text(manifest.replace("id: 20250115_recipe_fixes", f"id: {batch_id}"))
    os.environ["GONOGO_BATCHES_DIR"] = str(root)
    try:
        return parse_seconds(Path(__file__).resolve().parents[2] / "dags", "gonogo_batches.py")
    finally:
        del os.environ["GONOGO_BATCHES_DIR"]


# Airflow's own cost of a DAG of a batch DAG's shape: as many @task nodes, the same form params
# (Airflow deep-copies the DAG's params into every task it makes).
PLAIN_DAGS = '''
from airflow.sdk import DAG, chain, task
from gonogo_airflow.params import batch_params

@task
def work() -> None:
    pass

for i in range({count}):
    with DAG(dag_id=f"plain_{{i}}", schedule=None, params=batch_params(f"batch_{{i}}")) as dag:
        chain(*[work.override(task_id=f"t{{j}}")() for j in range({tasks})])
    globals()[dag.dag_id] = dag
'''


def test_batch_dags_parse_time(batch_dag, tmp_path):
    """What each batch's own DAG costs the DAG processor, beside DAGs of the same shape (tasks and
    form params) built from plain Airflow: the difference is gonogo's own share per batch (reading
    the manifest, drawing the nodes); ≤ 0.03 s is the aim."""
    tasks = len(batch_dag.tasks)
    rows, seconds, plain = [], {}, {}
    for count in (1, 10, 50):
        folder = tmp_path / f"plain_{count}"
        folder.mkdir()
        (folder / "plain.py").write_text(PLAIN_DAGS.format(count=count, tasks=tasks))
        ours, theirs = [], []
        for i in range(benchlib.REPEAT):  # one after the other: a drift of the machine hits both alike
            ours.append(parse_with_batches(count, tmp_path / f"{count}_{i}"))
            theirs.append(parse_seconds(folder, "plain.py"))
        seconds[count], plain[count] = benchlib.median(ours), benchlib.median(theirs)
        rows.append([str(count), f"{seconds[count]:.3f}", f"{plain[count]:.3f}",
                     f"{(seconds[count] - plain[count]) / count:.4f}"])
    per = (seconds[50] - seconds[10]) / 40
    per_plain = (plain[50] - plain[10]) / 40
    rows.append(["each batch from 10 to 50", f"{per:.4f}", f"{per_plain:.4f}", f"{per - per_plain:.4f}"])
    benchlib.table("parse_batches", "Parse time of dags/gonogo_batches.py (airflow dags report)",
                   ["batches", "gonogo_batches.py s", f"plain Airflow, {tasks} tasks each s",
                    "gonogo's own s per batch"], rows,
                   notes=[f"Each batch: a DAG of {tasks} tasks (the shipped batch's 7 migrations, each with its "
                          "rehearsal and its validation, its apply and its validation, and its rollback) and the "
                          "trigger form's params. The plain DAGs have as many @task nodes and the same params: "
                          "Airflow deep-copies the DAG's params into every task, which is most of a batch DAG's "
                          "cost."])


def phases(dagrun) -> dict[str, float]:
    """Seconds per task group (first start to last end of the tasks that ran), the approval wait,
    and the run's start to the approval waiting and to it answered."""
    # a skipped task has dates too (when it was skipped), but did not run
    tis = [ti for ti in dagrun.get_task_instances() if str(ti.state) in ("success", "failed")]
    start = min(ti.start_date for ti in tis)
    approval = next(ti for ti in tis if ti.task_id == APPROVAL)
    spans = {}
    for group in GROUPS:
        members = [ti for ti in tis if ti.task_id.split(".")[0] == group and ti.task_id != APPROVAL]
        if members:
            spans[group] = (max(ti.end_date for ti in members) - min(ti.start_date for ti in members)).total_seconds()
    return spans | {
        "approval answered after": (approval.end_date - approval.start_date).total_seconds(),
        "run start → approval waiting": (approval.start_date - start).total_seconds(),
        "run start → approval answered": (approval.end_date - start).total_seconds(),
    }


@pytest.mark.timeout(3600)
def test_rehearsal_wall_time(rollout):
    measured: dict[float, list[dict[str, float]]] = {}
    for scale in SCALES:
        env = rollout(scale=scale)
        for _ in range(benchlib.REPEAT):
            dagrun = env.run("Reject")
            assert env.answered and env.answered[-1]["choice"] == "Reject"
            states = {ti.task_id: str(ti.state) for ti in dagrun.get_task_instances()}
            assert states[APPROVAL] == "success" and states["decide.evaluate_gates"] == "success", states
            measured.setdefault(scale, []).append(phases(dagrun))
    names = [*GROUPS, "approval answered after", "run start → approval waiting", "run start → approval answered"]
    rows = []
    for name in names:
        cells = []
        for scale in SCALES:
            values = [run[name] for run in measured[scale] if name in run]
            cells.append(f"{benchlib.median(values):.1f}" if values else "skipped (rejected)")
        rows.append([name, *cells])
    benchlib.table("orchestration", "The rehearsal's wall time under dag.test(), per task group",
                   ["phase", *(f"scale {s:g}, s" for s in SCALES)], rows,
                   notes=["A group's time: its first task's start to its last task's end (tasks run in parallel "
                          "within it). decide: evaluate_gates; the approval is its own row.",
                          "Answered Reject by local.Approver (it polls Airflow's API every 0.5 s), so the run ends "
                          "after the approval and production and watch are skipped; report_outcome runs after.",
                          "One app client queries production through the whole run, on the same 2 cores, as in "
                          "tests/dags."])
