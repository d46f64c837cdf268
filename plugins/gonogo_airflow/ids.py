"""The names the Airflow boundary is held by: each task id one task reads another's result by, and
each XCom key, in one place. dags/gonogo_rollout.py names its tasks after these (its TaskGroup and
function names), and tests/dags/test_rollout_dag.py checks every id here is a task of the DAG."""

from __future__ import annotations

import re


def batch_dag(batch_id: str) -> str:
    """The DAG id of a batch's own DAG (dags/gonogo_batches.py)."""
    return "gonogo_" + re.sub(r"[^\w-]", "_", batch_id)


# prepare
VALIDATE_BATCH = "prepare.validate_batch"
PLAN_STEPS = "prepare.plan_steps"
RESTORE_STAGING = "prepare.restore_staging"
# dry run
CAPTURE_BASELINE = "dry_run.capture_baseline"
APPLY_ON_STAGING = "dry_run.apply_on_staging"
# decide
EVALUATE_GATES = "decide.evaluate_gates"
APPROVE = "decide.approve_rollout"
# production, in the order they run
RECORD_APPROVAL = "production.record_approval"
WAIT_FOR_WINDOW = "production.wait_for_window"
CHECK_SESSION_GUARDS = "production.check_session_guards"
TAKE_ROLLOUT_LOCK = "production.take_rollout_lock"      # a setup: the database is this run's ...
RELEASE_ROLLOUT_LOCK = "production.release_rollout_lock"  # ... until its teardown, however the run went
TAKE_BACKUP = "production.take_backup"
CREATE_RESTORE_POINT = "production.create_restore_point"
CAPTURE_METRICS_BASELINE = "production.capture_metrics_baseline"
APPLY = "production.apply_migrations"
DECIDE_ON_FAILURE = "production.decide_on_failure"
ROLLBACK = "production.rollback_migrations"
FIX_FORWARD = "production.fix_forward"
# a batch's own DAG (gonogo_<batch>): a task per migration and its rollback, named by migration()
MIGRATION_APPLY, MIGRATION_VALIDATE, MIGRATION_ROLLBACK = "apply", "validate", "rollback"
DRY_RUN = "dry_run"  # the group of a migration's node on staging (its apply), beside production's
# watch
WATCH = "watch.watch_window"
DECIDE_AFTER_WATCH = "watch.decide_after_watch"

# production's tasks before and including the migrations: the first that did not finish is where a run stopped
PRODUCTION_TASKS = (RECORD_APPROVAL, WAIT_FOR_WINDOW, CHECK_SESSION_GUARDS, TAKE_ROLLOUT_LOCK, TAKE_BACKUP,
                    CREATE_RESTORE_POINT, CAPTURE_METRICS_BASELINE, APPLY)

# XCom keys beside a task's return value
EVIDENCE = "evidence"                # EVALUATE_GATES: every result before the approval, for the final report
TO_APPLY = "to_apply"                # PLAN_STEPS: the steps this run applies (a short circuit's [] is not kept)
PRE_BATCH_SCHEMA = "pre_batch_schema"  # TAKE_BACKUP: the schema a rollback must get back to
DECISION = "decision"                # a HITL task: what a person (or the timeout) chose
SIGNOFF = "signoff"                  # APPROVE: the approvals counted so far
ALERTED = "alerted"                  # any task: its failure alert went out
FAILED_STEP = "failed_step"          # a migration's node on staging: its step failed, the rehearsal stops
BROKEN_SINCE = "broken_since"        # ... and the queries broken so far, each blamed on the step that broke it
STEP_RESULTS = "step_results"        # an apply task whose migration failed: its results (the final report's)
COUNTED = "row_counts_before"        # a migration's apply node: its tables' rows before it, for its validate node


def short(task_id: str) -> str:
    """The task's name within its group: "production.take_backup" → "take_backup"."""
    return task_id.rsplit(".", 1)[-1]


def pulled(task_id: str, *filters: str) -> str:
    """A Jinja expression for an operator's templated field: `task_id`'s return value."""
    return "{{ ti.xcom_pull(task_ids='%s')%s }}" % (task_id, "".join(f" | {f}" for f in filters))


def migration(step: str, task: str, group: str = "production") -> str:
    """The id of a migration's task in its batch's DAG: "production.apply_<step>",
    "production.validate_<step>", "production.rollback_<step>", "dry_run.apply_<step>",
    "dry_run.validate_<step>" (the step's name in the characters
    Airflow takes). Flat in its group, not a group per migration: the rollbacks run in reverse,
    and Airflow's Grid refuses groups that depend on each other both ways."""
    return f"{group}.{task}_" + re.sub(r"[^\w-]", "_", step)[:200]
