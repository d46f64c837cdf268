"""
### gonogo: a migration batch rolled out the way the Go/No-Go checklist says

1. **prepare** — batch validated; production snapshot (pg_dump) restored into staging.
2. **preflight** — server versions, required tables, orphans = 0 on the copy; monitoring on production.
3. **dry_run** — each enabled migration applied to staging in order and validated.
4. **decide** — the Go/No-Go report; a FAIL stops here and tells Slack, else `approve_rollout` waits.
5. **production** — timeouts, verified backup, restore point, each migration applied and validated;
   a failure rolls back what this run applied, in reverse.
6. **watch** — production watched for `monitoring_hours`.
7. **report_outcome** — Slack hears how it ended; only a completed rollout ends green.

The staging connection's database is **dropped and recreated** on every run.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, Param, TaskGroup, TriggerRule, chain, task
from airflow.sdk.exceptions import AirflowSkipException

from gonogo import outcome, slack, snapshot
from gonogo.batch import available_batches
from gonogo.errors import GatesFailed, StepFailed
from gonogo.gates.monitoring import monitoring_enabled
from gonogo.gates.orphan_integrity import orphan_integrity
from gonogo.gates.required_tables import required_tables
from gonogo.gates.restore_point import create_restore_point as restore_point
from gonogo.gates.server_versions import server_versions
from gonogo.gates.session_guards import session_guards
from gonogo.report import approval_markdown, write_reports
from gonogo.results import failures, from_dicts, require_pass, to_dicts
from gonogo.schema import Schema, read_schema
from gonogo.steps import apply_steps, undo
from gonogo.watch import watch
from gonogo_airflow.approval import RolloutApproval
from gonogo_airflow.notify import OutcomeReported, on_task_failure, send
from gonogo_airflow.rollout import Rollout

log = logging.getLogger("gonogo")
APPROVAL_TIMEOUT = timedelta(hours=24)  # unanswered by then: rejected


@task
def validate_batch() -> dict:
    """The whole batch checked before anything runs: manifest, files, SQL, a rollback per step."""
    return Rollout.current().batch.summary()


@task
def take_snapshot() -> dict:
    """pg_dump of production (directory format, parallel jobs) into the run's artifacts."""
    r = Rollout.current()
    return snapshot.dump(r.production, r.folder / "snapshot", log=log.info, app=r.app,
                         lock_wait_timeout=r.guards.lock_timeout).to_dict()


@task
def restore_staging(taken: dict) -> float:
    """Drop and recreate the staging database, pg_restore the snapshot into it, ANALYZE."""
    r = Rollout.current()
    return snapshot.restore_into(snapshot.Dump.from_dict(taken), r.staging, production=r.production, log=log.info)


@task
def check_server_versions() -> list[dict]:
    r = Rollout.current()
    with r.session("production") as prod, r.session("staging") as staging:
        return to_dicts([server_versions(prod, staging)])


@task
def check_required_tables() -> list[dict]:
    r = Rollout.current()
    return r.check("staging", required_tables, r.batch)


@task
def check_orphans() -> list[dict]:
    r = Rollout.current()
    return r.check("staging", orphan_integrity, r.batch)


@task
def check_monitoring() -> list[dict]:
    return Rollout.current().check("production", monitoring_enabled)


@task
def apply_on_staging() -> list[dict]:
    """Every enabled migration on the staging copy, in order, each validated after it runs."""
    r = Rollout.current()
    with r.session("staging") as conn:
        run = apply_steps(conn, list(r.batch.enabled_steps), phase="dry_run", live_traffic=False, log=log.info)
    return to_dicts(run.results)


@task
def evaluate_gates(preflight: list, dry_run: list) -> str:
    """Write the Go/No-Go report; any FAIL stops the run here (Slack names the gates)."""
    r = Rollout.current()
    results = from_dicts([*preflight, dry_run])
    write_reports(r.folder, r.info, r.batch, results)
    if failures(results):
        raise GatesFailed(results)
    return approval_markdown(r.info, r.batch, results)


@task
def check_session_guards() -> list[dict]:
    r = Rollout.current()
    return require_pass([session_guards(r.production, r.guards, r.app)], "check_session_guards")


@task
def take_backup() -> list[dict]:
    """pg_dump of production, read back with pg_restore --list; records the pre-batch schema."""
    r = Rollout.current()
    with r.session("production") as conn:
        r.ti.xcom_push(key="pre_batch_schema", value=read_schema(conn).to_json())
        tables = snapshot.table_names(conn)
    taken = snapshot.dump(r.production, r.folder / "backup", log=log.info, app=r.app,
                          lock_wait_timeout=r.guards.lock_timeout)
    return require_pass([snapshot.verify_dump(taken, tables, phase="production")], "take_backup")


@task
def create_restore_point() -> list[dict]:
    r = Rollout.current()
    with r.session("production") as conn:
        return require_pass([restore_point(conn, r.batch.restore_point)], "create_restore_point")


@task
def apply_migrations() -> list[dict]:
    """Each enabled migration on production, in order, validated after each; stops at a failure."""
    r = Rollout.current()
    with r.session("production") as conn:
        run = apply_steps(conn, list(r.batch.enabled_steps), phase="production", live_traffic=True,
                          log=log.info, on_progress=r.record_progress)
    if not run.ok:
        raise StepFailed(run.error, step=run.failed_step, results=run.results)
    return to_dicts(run.results)


@task(trigger_rule=TriggerRule.ONE_FAILED)
def rollback_migrations() -> list[dict]:
    """Undo what this run applied, the failed step first, then the others in reverse;
    then prove the schema equals the pre-batch schema."""
    r = Rollout.current()
    if not (steps := r.steps_in_flight()):
        raise AirflowSkipException("no migration ran on production in this run: nothing to roll back")
    pre_batch = Schema.from_json(r.ti.xcom_pull(task_ids="production.take_backup", key="pre_batch_schema"))
    with r.session("production") as conn:
        results = undo(conn, steps, pre_batch, phase="production", log=log.info)
    send(r, slack.rolled_back(r.info, results, r.task_url))
    if failures(results):
        raise OutcomeReported("rollback incomplete: " + "; ".join(f.message for f in failures(results)))
    return to_dicts(results)


@task
def watch_window(applied: list) -> list[dict]:
    """Poll production until monitoring_hours have passed (holds a worker slot meanwhile)."""
    r = Rollout.current()
    seconds = float(r.params["monitoring_hours"]) * 3600
    return to_dicts(watch(r.production, r.batch, seconds=seconds, app=r.app, guards=r.guards,
                          interval=min(60.0, max(seconds / 10, 0.5)), log=log.info))


@task(trigger_rule=TriggerRule.ALL_DONE)
def report_outcome() -> str:
    """Tell Slack how the rollout ended; fail the run unless it completed."""
    r = Rollout.current()
    pull = r.ti.xcom_pull
    applied, watched = pull(task_ids="production.apply_migrations"), pull(task_ids="watch.watch_window")
    end = outcome.decide(gates_report=pull(task_ids="decide.evaluate_gates"), applied=applied, watched=watched,
                         approval=pull(task_ids="decide.approve_rollout", key="decision"))
    if message := slack.for_outcome(r.info, end, applied, watched):
        send(r, message)
    if not end.ok:
        raise OutcomeReported(f"rollout {end.kind}: {end.summary}")
    return end.summary


with DAG(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    schedule=None,
    catchup=False,
    max_active_runs=1,
    tags=["gonogo", "postgresql", "migrations"],
    default_args={"retries": 0, "on_failure_callback": on_task_failure},
    params={
        "batch": Param("20250115_recipe_fixes", type="string", enum=available_batches() or None,
                       title="Batch", description="Folder under include/batches/ to roll out."),
        "production_conn_id": Param("gonogo_production", type="string", title="Production connection"),
        "staging_conn_id": Param("gonogo_staging", type="string", title="Staging connection",
                                 description="Airflow connection id of staging. Its database is DROPPED "
                                             "and recreated from the production snapshot on every run."),
        "monitoring_hours": Param(48.0, type="number", minimum=0, title="Watch window (hours)",
                                  description="How long production is watched after the rollout."),
        "lock_timeout": Param("2s", type="string", pattern=r"^[0-9]+(ms|s|min)?$", title="Lock timeout",
                              description="lock_timeout of every production session (the seed's 2s)."),
        "statement_timeout": Param("5min", type="string", pattern=r"^[0-9]+(ms|s|min|h)?$", title="Statement timeout"),
        "slack_conn_id": Param("gonogo_slack", type="string", title="Slack connection"),
        "slack_channel": Param("#db-rollouts", type="string", title="Slack channel"),
    },
) as dag:
    with TaskGroup("prepare"):
        validated, taken = validate_batch(), take_snapshot()
        restored = restore_staging(taken)

    with TaskGroup("preflight"):
        gates = [check_server_versions(), check_required_tables(), check_orphans(), check_monitoring()]

    with TaskGroup("dry_run"):
        rehearsal = apply_on_staging()

    with TaskGroup("decide"):
        evaluated = evaluate_gates(gates, rehearsal)
        approve_rollout = RolloutApproval(
            task_id="approve_rollout",
            subject="Go/No-Go: roll batch {{ params.batch }} out to production?",
            body="{{ ti.xcom_pull(task_ids='decide.evaluate_gates') }}",
            defaults="Reject",
            response_timeout=APPROVAL_TIMEOUT,
        )

    with TaskGroup("production"):
        guards = check_session_guards()
        applied = apply_migrations()
        rolled_back = rollback_migrations()
        chain(guards, take_backup(), create_restore_point(), applied, rolled_back)

    with TaskGroup("watch"):
        watched = watch_window(applied)

    chain(validated, taken)
    restored >> gates >> rehearsal
    chain(evaluated, approve_rollout, guards)
    [watched, rolled_back] >> report_outcome()
