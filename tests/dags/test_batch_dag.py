"""A batch's own DAG (dags/gonogo_batches.py) under Airflow's dag.test(): each migration a node
of its own on staging (its rehearsal; the first failure stops the ones after it) and on
production, applied in order; on a failure, on-call's Roll back runs each migration's paired
rollback node in reverse, then proves the pre-batch schema."""

from __future__ import annotations

import json

import pytest

import sample_app
from gonogo.apply import history
from gonogo.batch import load_batch
from gonogo_airflow import ids
from helpers import body, copy_batch, pg_dump_schema, states

pytestmark = pytest.mark.timeout(900)  # 51 tasks a run under dag.test(): minutes on a busy machine

BATCH = load_batch("20250115_recipe_fixes")
STEPS = [s.name for s in BATCH.steps]  # the cleanup too: disabled, drawn, left alone
ENABLED = [s.name for s in BATCH.enabled_steps]


def apply_of(step: str) -> str:
    return ids.migration(step, ids.MIGRATION_APPLY)


def rollback_of(step: str) -> str:
    return ids.migration(step, ids.MIGRATION_ROLLBACK)


def rehearsal_of(step: str) -> str:
    return ids.migration(step, ids.MIGRATION_APPLY, ids.DRY_RUN)


def validate_of(step: str, group: str = "production") -> str:
    return ids.migration(step, ids.MIGRATION_VALIDATE, group)


def ended_in_order(dagrun, task_ids: list[str]) -> list[str]:
    """The tasks among task_ids that ran, in the order they started."""
    ran = [ti for ti in dagrun.get_task_instances() if ti.task_id in task_ids and ti.start_date]
    return [ti.task_id for ti in sorted(ran, key=lambda ti: ti.start_date)]


def test_the_batch_dag_draws_each_migration_and_its_rollback(batch_dag):
    """From the manifest at parse time: an apply node per step, then its validate node, in order,
    then the gathering node the watch window waits for; the rollbacks chained the other way, the
    last migration's first."""
    for earlier, later in zip(STEPS, STEPS[1:]):
        assert batch_dag.get_task(apply_of(earlier)).downstream_task_ids >= {validate_of(earlier)}
        assert batch_dag.get_task(validate_of(earlier)).downstream_task_ids >= {apply_of(later)}
        assert batch_dag.get_task(rollback_of(later)).downstream_task_ids == {rollback_of(earlier)}
    assert batch_dag.get_task(validate_of(STEPS[-1])).downstream_task_ids >= {ids.APPLY}
    assert batch_dag.get_task(ids.DECIDE_ON_FAILURE).upstream_task_ids >= {validate_of(s) for s in STEPS}
    assert batch_dag.get_task(rollback_of(STEPS[0])).downstream_task_ids == {ids.ROLLBACK}
    assert batch_dag.get_task(rollback_of(STEPS[-1])).upstream_task_ids == {ids.DECIDE_ON_FAILURE,
                                                                            ids.DECIDE_AFTER_WATCH}
    assert batch_dag.get_task(ids.WATCH).upstream_task_ids == {ids.APPLY}
    # on staging: a rehearsal node per step in order, gathered before the rollback rehearsal
    for earlier, later in zip(STEPS, STEPS[1:]):
        assert batch_dag.get_task(rehearsal_of(earlier)).downstream_task_ids == {validate_of(earlier, ids.DRY_RUN)}
        assert batch_dag.get_task(validate_of(earlier, ids.DRY_RUN)).downstream_task_ids == {rehearsal_of(later)}
    assert batch_dag.get_task(validate_of(STEPS[-1], ids.DRY_RUN)).downstream_task_ids == {ids.APPLY_ON_STAGING}
    assert all(batch_dag.get_task(rehearsal_of(s)).upstream_task_ids >= {ids.CAPTURE_BASELINE} for s in STEPS)
    assert "dry_run.rehearse_rollbacks" in batch_dag.get_task(ids.APPLY_ON_STAGING).downstream_task_ids
    assert batch_dag.params["batch"] == BATCH.id and "migration_tool" not in batch_dag.params


def test_each_migration_is_applied_by_its_own_node_in_order(rollout, batch_dag):
    env = rollout(dag=batch_dag)
    dagrun = env.run("Approve")

    ti = states(dagrun)
    assert str(dagrun.state) == "success", env.why(dagrun)
    nodes = [node for s in STEPS for node in (apply_of(s), validate_of(s))]
    assert all(ti[node] == "success" for node in nodes)
    assert ended_in_order(dagrun, nodes) == nodes
    assert all(ti[rollback_of(s)] == "skipped" for s in STEPS) and ti[ids.ROLLBACK] == "skipped"
    # each node's evidence is its own step's: the apply node ran it, the validate node checked it;
    # the gathering node has them all, in order
    for step in ENABLED:
        results = dagrun.get_task_instance(apply_of(step)).xcom_pull(task_ids=apply_of(step))
        assert {r["subject"] for r in results if r["gate"] == "step_applied"} == {step}
        assert not {r["gate"] for r in results} & {"objects_valid", "row_counts_unchanged"}
        checked = dagrun.get_task_instance(validate_of(step)).xcom_pull(task_ids=validate_of(step))
        assert {r["gate"] for r in checked} >= {"objects_valid", "row_counts_unchanged"}
        assert {r["subject"] for r in checked} == {step} and all(r["verdict"] != "FAIL" for r in checked)
    [cleanup] = dagrun.get_task_instance(apply_of(STEPS[-1])).xcom_pull(task_ids=apply_of(STEPS[-1]))
    assert cleanup["value"] == "disabled in this run: not applied"
    assert dagrun.get_task_instance(validate_of(STEPS[-1])).xcom_pull(task_ids=validate_of(STEPS[-1])) == []
    gathered = dagrun.get_task_instance(ids.APPLY).xcom_pull(task_ids=ids.APPLY)
    assert [r["subject"] for r in gathered if r["gate"] == "step_applied"] == ENABLED
    assert [r["subject"] for r in gathered if r["gate"] == "objects_valid"] == ENABLED
    # on staging the same: each rehearsal node in order, its own step's evidence, gathered
    staged = [node for s in STEPS for node in (rehearsal_of(s), validate_of(s, ids.DRY_RUN))]
    assert all(ti[node] == "success" for node in staged)
    assert ended_in_order(dagrun, staged) == staged
    for step in ENABLED:
        results = dagrun.get_task_instance(rehearsal_of(step)).xcom_pull(task_ids=rehearsal_of(step))
        assert {r["subject"] for r in results if r["gate"] == "step_applied"} == {step}
        assert {r["gate"] for r in results} >= {"lock_budget", "lock_waits"}  # traced under the app's traffic
        if step != ENABLED[0]:  # what holds before the batch is measured once, by the first node
            assert results[0]["subject"] == step, results[0]
        node = validate_of(step, ids.DRY_RUN)
        checked = dagrun.get_task_instance(node).xcom_pull(task_ids=node)
        assert {r["gate"] for r in checked} >= {"objects_valid", "row_counts_unchanged", "query_latency"}
    assert dagrun.get_task_instance(rehearsal_of(STEPS[-1])).xcom_pull(task_ids=rehearsal_of(STEPS[-1])) == []
    first = dagrun.get_task_instance(rehearsal_of(STEPS[0])).xcom_pull(task_ids=rehearsal_of(STEPS[0]))
    rehearsed = dagrun.get_task_instance(ids.APPLY_ON_STAGING).xcom_pull(task_ids=ids.APPLY_ON_STAGING)
    assert rehearsed[:len(first)] == first
    assert [r["subject"] for r in rehearsed if r["gate"] == "step_applied"] == ENABLED
    with env.production.connect("tests", guards=None) as conn:
        recorded = history.read(conn, BATCH.id)
    assert {s: recorded[s].status for s in ENABLED} == {s: "applied" for s in ENABLED}
    assert STEPS[-1] not in recorded
    assert any("rollout complete" in m["text"] for m in env.slack.messages)


def test_a_migration_that_fails_on_staging_stops_the_rehearsal_at_its_node(rollout, batch_dag):
    """Orphaned recipe items: the foreign keys' step cannot go through on the copy. Its node
    keeps the evidence, the nodes after it are skipped, the No-Go names it; nobody is asked and
    production is untouched."""
    env = rollout(defects=["orphan_recipe_items"], dag=batch_dag)
    schema_before = pg_dump_schema(env.production)

    dagrun = env.run("Approve")

    ti = states(dagrun)
    failing = "20250115130000_add_missing_foreign_keys_production_safe"
    at = STEPS.index(failing)
    assert [ti[rehearsal_of(s)] for s in STEPS] == ["success"] * (at + 1) + ["skipped"] * (len(STEPS) - at - 1), \
        env.why(dagrun)
    assert [ti[validate_of(s, ids.DRY_RUN)] for s in STEPS] == \
        ["success"] * (at + 1) + ["skipped"] * (len(STEPS) - at - 1)  # the failed step's: nothing to check
    evidence = dagrun.get_task_instance(rehearsal_of(failing)).xcom_pull(task_ids=rehearsal_of(failing))
    assert any(r["verdict"] == "FAIL" and r["subject"] == failing for r in evidence)
    assert ti[ids.APPLY_ON_STAGING] == "success" and ti[ids.EVALUATE_GATES] == "failed"
    assert ti[ids.APPROVE] == "upstream_failed" and env.answered == []
    assert all(ti[apply_of(s)] in ("upstream_failed", "skipped") for s in STEPS)
    assert pg_dump_schema(env.production) == schema_before


def test_a_failed_migration_is_rolled_back_node_by_node_in_reverse(rollout, batch_dag):
    env = rollout(dag=batch_dag)
    schema_before = pg_dump_schema(env.production)

    def production_changes_after_the_snapshot(detail):
        # recipes whose category names no Category arrive after the copy: the backfill fails on production
        with env.production.connect("tests", guards=None) as conn:
            sample_app.inject_defects(conn, ["unmapped_categories"])

    dagrun = env.run({"decide.approve_rollout": "Approve", ids.DECIDE_ON_FAILURE: "Roll back"},
                     before_answer=production_changes_after_the_snapshot)

    ti = states(dagrun)
    failed = "20250115160000_fix_recipe_category_fields_backfill"
    at = STEPS.index(failed)
    assert str(dagrun.state) == "failed"
    # the backfill's file went through; its verification found the unmapped rows: its validate node failed
    assert [ti[apply_of(s)] for s in STEPS] == ["success"] * (at + 1) + ["upstream_failed"] * (len(STEPS) - at - 1)
    assert [ti[validate_of(s)] for s in STEPS] == \
        ["success"] * at + ["failed"] + ["upstream_failed"] * (len(STEPS) - at - 1)
    assert ti[ids.DECIDE_ON_FAILURE] == "success" and ti[ids.FIX_FORWARD] == "skipped"
    assert all(ti[rollback_of(s)] == "success" for s in STEPS) and ti[ids.ROLLBACK] == "success"
    # every rollback node ran, the last migration's first; those of steps this run never started
    # had nothing to undo
    rollbacks = [rollback_of(s) for s in STEPS]
    assert ended_in_order(dagrun, rollbacks) == rollbacks[::-1]
    for step in STEPS[at + 1:]:
        [left] = dagrun.get_task_instance(rollback_of(step)).xcom_pull(task_ids=rollback_of(step))
        assert left["value"] == "not applied by this run: nothing to undo"
    proof = dagrun.get_task_instance(ids.ROLLBACK).xcom_pull(task_ids=ids.ROLLBACK)
    assert proof[-1]["gate"] == "schema_restored" and proof[-1]["verdict"] == "PASS"
    assert [r["subject"] for r in proof if r["gate"] == "rollback_applied"] == STEPS[:at + 1][::-1]
    assert pg_dump_schema(env.production) == schema_before
    rolled_back = next(m for m in env.slack.messages if "rolled back" in m["text"].lower())
    assert [s for s in STEPS[:at + 1][::-1] if s in body(rolled_back)] == STEPS[:at + 1][::-1]
    with env.production.connect("tests", guards=None) as conn:
        recorded = history.read(conn, BATCH.id)
    assert {recorded[s].status for s in STEPS[:at + 1]} == {"rolled_back"}
    # the final report has what each node did: the steps applied, the failed one with its error
    [report] = (env.artifacts / batch_dag.dag_id).glob("*/report.json")
    done = [r for r in json.loads(report.read_text())["results"] if r["phase"] == "production"]
    assert [r["subject"] for r in done if r["gate"] == "step_applied"] == STEPS[:at + 1]
    assert {r["subject"] for r in done if r["verdict"] == "FAIL"} == {failed}


def test_a_migration_whose_validation_fails_on_production_asks_on_call_and_is_rolled_back(
        rollout, batch_dag, tmp_path, monkeypatch):
    """The first migration's verify file finds a problem on production that the staging copy did
    not have: its apply node went through, its validate node fails, nothing after it runs,
    on-call is asked, and Roll back undoes that migration (history: rolled back)."""
    import yaml

    folder = copy_batch(tmp_path)
    manifest = yaml.safe_load((folder / "manifest.yaml").read_text())
    manifest["steps"][0]["verify"] = "verify/first_verify.sql"
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    (folder / "verify" / "first_verify.sql").write_text("SELECT 1 WHERE false;\n")
    monkeypatch.setenv("GONOGO_BATCHES_DIR", str(folder.parent))
    env = rollout(dag=batch_dag)
    (folder / "verify" / "first_verify.sql").write_text(  # zero rows = right; on production, one
        "SELECT 'a duplicate the copy did not have' AS problem, 1 AS rows\n"
        f" WHERE current_database() = '{env.production.dbname}';\n")
    schema_before = pg_dump_schema(env.production)

    dagrun = env.run({"decide.approve_rollout": "Approve", ids.DECIDE_ON_FAILURE: "Roll back"})

    ti = states(dagrun)
    first = STEPS[0]
    assert str(dagrun.state) == "failed", env.why(dagrun)
    assert ti[validate_of(first, ids.DRY_RUN)] == "success"  # the copy had no such problem
    assert (ti[apply_of(first)], ti[validate_of(first)]) == ("success", "failed")
    assert all(ti[apply_of(s)] == "upstream_failed" for s in STEPS[1:])
    assert ti[ids.DECIDE_ON_FAILURE] == "success" and ti[rollback_of(first)] == "success"
    assert ti[ids.ROLLBACK] == "success" and pg_dump_schema(env.production) == schema_before
    with env.production.connect("tests", guards=None) as conn:
        recorded = history.read(conn, BATCH.id)
        events = [e["event"] for e in history.events(conn, BATCH.id) if e["step"] == first]
    assert recorded[first].status == "rolled_back" and events[:3] == ["apply", "applied", "fail"], events
    assert events[-1] == "rolled_back", events
    [report] = (env.artifacts / batch_dag.dag_id).glob("*/report.json")
    done = [r for r in json.loads(report.read_text())["results"] if r["phase"] == "production"]
    assert [(r["gate"], r["subject"]) for r in done if r["verdict"] == "FAIL"] == [("step_verified", first)]


def test_a_batch_changed_since_its_dag_was_drawn_stops_before_production(rollout, batch_dag, tmp_path, monkeypatch):
    """The DAG's nodes were drawn from the manifest; then the batch lost its last step (the
    folder the run reads has 6 where the DAG has 7 nodes): validate_batch stops the run, names
    both lists, and production is never touched."""
    import yaml

    folder = copy_batch(tmp_path)
    manifest = yaml.safe_load((folder / "manifest.yaml").read_text())
    manifest["steps"] = manifest["steps"][:-1]
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    monkeypatch.setenv("GONOGO_BATCHES_DIR", str(folder.parent))
    env = rollout(dag=batch_dag)
    schema_before = pg_dump_schema(env.production)

    dagrun = env.run("Approve")

    ti = states(dagrun)
    assert str(dagrun.state) == "failed"
    assert ti[ids.VALIDATE_BATCH] == "failed" and ti[apply_of(STEPS[0])] in ("upstream_failed", "skipped")
    assert pg_dump_schema(env.production) == schema_before
    told = " ".join(m["text"] + body(m) for m in env.slack.messages)
    assert "has changed since its DAG was drawn" in told and STEPS[-1] in told
