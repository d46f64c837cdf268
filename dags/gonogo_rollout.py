"""
### gonogo: a migration batch rolled out the way the Go/No-Go checklist says

1. **prepare** — batch validated and linted; production snapshot (pg_dump) restored into staging.
2. **preflight** — versions, extensions, privileges, schema drift, required tables, orphans, monitoring.
3. **dry_run** — each migration applied to the copy under the app's queries: locks traced, plans
   compared, contracts run; then every rollback rehearsed and the batch applied again.
4. **decide** — the Go/No-Go report; a FAIL stops here and tells Slack, else `approve_rollout` waits.
5. **production** — timeouts, verified backup, restore point, each migration applied and validated;
   a failure rolls back what this run applied, in reverse.
6. **watch** — production watched for `monitoring_hours`; **report_outcome** tells Slack how it
   ended, and only a completed rollout ends green. Staging's database is **dropped and recreated**.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, TaskGroup, TriggerRule, chain, task
from airflow.sdk.exceptions import AirflowSkipException

from gonogo.preflight import PREFLIGHT
from gonogo.results import failures, from_dicts, require_pass, to_dicts
from gonogo_airflow.approval import RolloutApproval
from gonogo_airflow.notify import OutcomeReported, on_task_failure, send
from gonogo_airflow.params import ROLLOUT_PARAMS
from gonogo_airflow.rollout import Rollout

# Task bodies import the library where they use it: psycopg, pglast and slack_sdk load when a
# task runs, not each time the scheduler parses this file.
log = logging.getLogger("gonogo")


@task
def validate_batch() -> dict:
    """The whole batch checked before anything runs: manifest, files, SQL, a rollback per step."""
    return Rollout.current().batch.summary()


@task
def lint_migrations() -> list[dict]:
    """Static lint of every migration and rollback: squawk plus gonogo's own lock rules."""
    from gonogo.lint import lint_batch
    return to_dicts(lint_batch(Rollout.current().batch))


@task
def take_snapshot() -> dict:
    """pg_dump of production (directory format, parallel jobs) into the run's artifacts."""
    from gonogo import snapshot
    r = Rollout.current()
    return snapshot.dump(r.production, r.folder / "snapshot", log=log.info, app=r.app,
                         lock_wait_timeout=r.guards.lock_timeout).to_dict()


@task
def restore_staging(taken: dict) -> float:
    """Drop and recreate the staging database, pg_restore the snapshot into it, ANALYZE."""
    from gonogo import snapshot
    r = Rollout.current()
    return snapshot.restore_into(snapshot.Dump.from_dict(taken), r.staging, production=r.production, log=log.info)


@task
def check(gate: str) -> list[dict]:
    """One preflight gate (gonogo.preflight.PREFLIGHT); its task doc says what it checks."""
    return Rollout.current().run_gate(gate)


@task
def capture_baseline() -> dict:
    """The staging copy before the batch: schema, top queries' plans, observability snapshot."""
    from gonogo import dryrun
    r = Rollout.current()
    with r.session("staging") as conn:
        return dryrun.capture_baseline(conn, r.batch).to_json()


@task
def apply_on_staging(baseline: dict) -> list[dict]:
    """Each enabled migration in order while the app's queries run: preconditions, locks traced,
    validation, lock budget and waits, plans against the baseline, contract tests."""
    from gonogo import dryrun
    r = Rollout.current()
    return to_dicts(dryrun.apply_all(r.staging, r.batch, dryrun.Baseline.from_json(baseline), app=r.app,
                                     guards=r.guards, log=log.info))


@task
def rehearse_rollbacks(baseline: dict, applied: list) -> list[dict]:
    """Roll every applied step back in reverse (traced), compare with the baseline, apply again."""
    from gonogo import dryrun
    from gonogo.results import applied_steps
    r = Rollout.current()
    return to_dicts(dryrun.rehearse_rollbacks(r.staging, r.batch, dryrun.Baseline.from_json(baseline),
                                              applied_steps(applied), app=r.app, guards=r.guards, log=log.info))


@task
def compare_observability(baseline: dict, rehearsed: list) -> list[dict]:
    from gonogo import dryrun
    r = Rollout.current()
    with r.session("staging") as conn:
        return to_dicts([dryrun.compare_observability(conn, dryrun.Baseline.from_json(baseline))])


@task
def evaluate_gates(evidence: list) -> str:
    """Write the Go/No-Go report; any FAIL stops the run here (Slack names the gates)."""
    from gonogo.errors import GatesFailed
    from gonogo.report import approval_markdown, write_reports
    r = Rollout.current()
    results = from_dicts(evidence)
    write_reports(r.folder, r.info, r.batch, results)
    if failures(results):
        raise GatesFailed(results)
    return approval_markdown(r.info, r.batch, results)


@task
def check_session_guards() -> list[dict]:
    from gonogo.gates.session_guards import session_guards
    r = Rollout.current()
    return require_pass([session_guards(r.production, r.guards, r.app)], "check_session_guards")


@task
def take_backup() -> list[dict]:
    """pg_dump of production, read back with pg_restore --list; records the pre-batch schema."""
    from gonogo import snapshot
    from gonogo.schema import read_schema
    r = Rollout.current()
    with r.session("production") as conn:
        r.ti.xcom_push(key="pre_batch_schema", value=read_schema(conn).to_json())
        tables = snapshot.table_names(conn)
    taken = snapshot.dump(r.production, r.folder / "backup", log=log.info, app=r.app,
                          lock_wait_timeout=r.guards.lock_timeout)
    return require_pass([snapshot.verify_dump(taken, tables, phase="production")], "take_backup")


@task
def create_restore_point() -> list[dict]:
    from gonogo.gates.restore_point import create_restore_point as restore_point
    r = Rollout.current()
    with r.session("production") as conn:
        return require_pass([restore_point(conn, r.batch.restore_point)], "create_restore_point")


@task
def apply_migrations() -> list[dict]:
    """Each enabled migration on production, in order, validated after each; stops at a failure."""
    from gonogo.errors import StepFailed
    from gonogo.steps import apply_steps
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
    from gonogo import slack
    from gonogo.schema import Schema
    from gonogo.steps import undo
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
    from gonogo.watch import watch
    r = Rollout.current()
    seconds = float(r.params["monitoring_hours"]) * 3600
    return to_dicts(watch(r.production, r.batch, seconds=seconds, app=r.app, guards=r.guards,
                          interval=min(60.0, max(seconds / 10, 0.5)), log=log.info))


@task(trigger_rule=TriggerRule.ALL_DONE)
def report_outcome() -> str:
    """Tell Slack how the rollout ended; fail the run unless it completed."""
    from gonogo import outcome, slack
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
    params=ROLLOUT_PARAMS,
) as dag:
    with TaskGroup("prepare"):
        validated, taken, linted = validate_batch(), take_snapshot(), lint_migrations()
        restored = restore_staging(taken)

    with TaskGroup("preflight"):
        gates = [check.override(task_id=f"check_{gate.name}", doc_md=gate.doc)(gate.name) for gate in PREFLIGHT]

    with TaskGroup("dry_run"):
        baseline = capture_baseline()
        applied_on_staging = apply_on_staging(baseline)
        rehearsed = rehearse_rollbacks(baseline, applied_on_staging)
        observed = compare_observability(baseline, rehearsed)

    with TaskGroup("decide"):
        evaluated = evaluate_gates([linted, *gates, applied_on_staging, rehearsed, observed])
        approve_rollout = RolloutApproval(
            task_id="approve_rollout",
            subject="Go/No-Go: roll batch {{ params.batch }} out to production?",
            body="{{ ti.xcom_pull(task_ids='decide.evaluate_gates') }}",
            defaults="Reject",  # unanswered after a day: rejected
            response_timeout=timedelta(hours=24),
        )

    with TaskGroup("production"):
        guards = check_session_guards()
        applied = apply_migrations()
        rolled_back = rollback_migrations()
        chain(guards, take_backup(), create_restore_point(), applied, rolled_back)

    with TaskGroup("watch"):
        watched = watch_window(applied)

    chain(validated, [taken, linted])
    restored >> gates >> baseline
    chain(evaluated, approve_rollout, guards)
    [watched, rolled_back] >> report_outcome()
