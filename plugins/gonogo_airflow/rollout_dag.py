"""The rollout DAG, drawn the way astronomer-cosmos draws a dbt project: once for any batch
(`gonogo_rollout`: the batch or a migration tool's folder chosen in the trigger form, the
migrations rehearsed and applied by one task each) and once per batch folder (`gonogo_<batch>`,
dags/gonogo_batches.py: each migration a node of its own on staging — its rehearsal — and on
production — apply, then validate, and its paired rollback, which run in reverse for what this
run applied when on-call chooses Roll back). Everything else is the same
DAG: the checklist's phases below, in the order the checklist has them.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from airflow.sdk import DAG, TaskGroup, TriggerRule, chain, task

from gonogo.batches import Outline
from gonogo.gates.preflight import PREFLIGHT
from gonogo.results import to_dicts
from gonogo_airflow import ending, ids, phases
from gonogo_airflow.approval import FailureDecision, RolloutApproval
from gonogo_airflow.notify import ApprovalNeeded, on_task_failure
from gonogo_airflow.rollout import Rollout
from gonogo_airflow.traffic_window import LowTrafficWindow
from gonogo_airflow.watch import WatchWindow

# Task bodies import the library where they use it: psycopg, pglast and slack_sdk load when a
# task runs, not each time the scheduler parses this file.
log = logging.getLogger("gonogo")


# Reading and linting a batch takes seconds (a 5 MB file, the largest allowed: about 15 s); a
# bound in time stops an input nobody foresaw from holding a worker.
READ_TIMEOUT = timedelta(minutes=10)


@task(execution_timeout=READ_TIMEOUT)
def validate_batch(drawn: list[str] | None) -> dict:
    """The whole batch checked before anything runs: manifest, files, SQL, a rollback per step;
    from a migration tool, the migrations production's tool history has not applied. A batch's
    own DAG: its steps are still the nodes it was drawn with (`drawn`)."""
    return Rollout.current().validated_batch(drawn)


@task.short_circuit(ignore_downstream_trigger_rules=False)
def plan_steps() -> list[str]:
    """The enabled steps production has not applied from these very files. None left: nothing
    to apply — the copy, the gates, the approval and production are skipped, and the run ends
    "nothing to apply"."""
    return Rollout.current().plan_steps()


@task(execution_timeout=READ_TIMEOUT)
def lint_migrations() -> list[dict]:
    """Static lint of every migration and rollback: squawk plus gonogo's own lock rules."""
    from gonogo.lint import lint_batch
    return to_dicts(lint_batch(Rollout.current().batch))


@task
def restore_staging() -> float:
    """Drop and recreate the staging database, stream production into it (pg_dump piped into
    pg_restore, no file between them: any worker makes the copy), ANALYZE."""
    from gonogo.clone import snapshot
    r = Rollout.current()
    return snapshot.stream_into(r.production, r.staging, app=r.ctx.app, lock_wait_timeout=r.ctx.guards.lock_timeout,
                                log=log.info)


@task
def drop_staging_copy() -> str:
    """Teardown of restore_staging: once the dry run is done, whatever its outcome, the staging
    database is dropped (it holds production's data; the backup stays)."""
    from gonogo.clone import snapshot
    r = Rollout.current()
    return snapshot.drop_copy(r.staging, production=r.production, log=log.info)


@task
def check(gate: str) -> list[dict]:
    """One preflight gate (gonogo.gates.preflight.PREFLIGHT); its task doc says what it checks."""
    return Rollout.current().run_gate(gate)


@task
def capture_baseline() -> dict:
    """The staging copy before the batch: schema, top queries' plans, observability snapshot."""
    from gonogo.rehearsal import dryrun
    return dryrun.capture_baseline(Rollout.current().ctx).to_json()


@task
def apply_on_staging(baseline: dict) -> list[dict]:
    """Each enabled migration in order while the app's queries run: preconditions, locks traced,
    validation, lock budget and waits, plans against the baseline, contract tests."""
    from gonogo.rehearsal import dryrun
    return to_dicts(dryrun.apply_all(Rollout.current().ctx, dryrun.Baseline.from_json(baseline), log=log.info))


@task
def rehearse_migration(baseline: dict, step: str, previous: str | None) -> list[dict]:
    """One migration on the staging copy while the app's queries run: preconditions, locks
    traced, lock budget and waits, rows written (its validate node checks what it made)."""
    return phases.rehearse(Rollout.current(), step, baseline, previous, log=log.info)


@task
def validate_rehearsal(baseline: dict, step: str, previous: str | None) -> list[dict]:
    """What the migration's rehearsal made, checked on the staging copy: its objects, verify file
    and rows; then the app's plans against the baseline, the contracts and commands due."""
    return phases.validate_rehearsed(Rollout.current(), step, baseline, previous, log=log.info)


@task(trigger_rule=TriggerRule.NONE_FAILED)
def all_rehearsed(steps: list[str]) -> list[dict]:
    """Every migration's node on staging rehearsed (or skipped after a failure): their results,
    as one list (the rollback rehearsal and the report read it)."""
    return phases.gathered(Rollout.current(), steps, ids.DRY_RUN)


@task
def rehearse_rollbacks(baseline: dict, applied: list) -> list[dict]:
    """Roll every applied step back in reverse (traced), compare with the baseline, apply again."""
    from gonogo.rehearsal import dryrun
    from gonogo.results import applied_steps
    return to_dicts(dryrun.rehearse_rollbacks(Rollout.current().ctx, dryrun.Baseline.from_json(baseline),
                                              applied_steps(applied), log=log.info))


@task
def compare_observability(baseline: dict, rehearsed: list) -> list[dict]:
    """Observability snapshot of staging after the dry run, as a diff with the baseline."""
    from gonogo.rehearsal import dryrun
    return to_dicts([dryrun.compare_observability(Rollout.current().ctx, dryrun.Baseline.from_json(baseline))])


@task(trigger_rule=TriggerRule.ALL_DONE)
def evaluate_gates(evidence: dict) -> str:
    """Write the Go/No-Go report; any FAIL stops the run here (Slack names the gates). A lint,
    preflight or dry-run task that did not finish is a FAIL of its own in the report, beside all
    that was measured; when the batch or the copy was never prepared, that task's alert said so."""
    return phases.evaluate(Rollout.current(), evidence)


@task
def record_approval() -> dict:
    """The approver's decision into production's audit trail."""
    from gonogo.apply import production
    r = Rollout.current()
    return production.record_decision(r.ctx, "approve", r.decision(ids.APPROVE))


@task
def check_session_guards() -> list[dict]:
    """Production sessions carry the timeouts; no other rollout holds this database (a session a
    dead task of this run left is ended)."""
    return phases.check_guards(Rollout.current(), log=log.info)


@task
def take_rollout_lock() -> dict:
    """Setup: production is this run's until release_rollout_lock — no other rollout starts on it
    between this run's tasks, through its watch window."""
    from gonogo.apply import production
    return production.take_lock(Rollout.current().ctx, log=log.info)


@task
def release_rollout_lock() -> bool:
    """Teardown of take_rollout_lock: production given back once the migrations, the rollback or
    fix forward and the watch window are over, however they ended."""
    from gonogo.apply import production
    return production.release_lock(Rollout.current().ctx, log=log.info)


@task
def take_backup() -> list[dict]:
    """pg_dump of production, read back with pg_restore --list; keeps the pre-batch schema."""
    from gonogo.apply import production
    r = Rollout.current()
    results, pre_batch = production.backup(r.ctx, log=log.info)
    r.ti.xcom_push(key=ids.PRE_BATCH_SCHEMA, value=pre_batch)
    return results


@task
def create_restore_point() -> list[dict]:
    """pg_create_restore_point, its WAL confirmed archived; name and LSN into the history."""
    from gonogo.apply import production
    return production.restore_point(Rollout.current().ctx)


@task
def capture_metrics_baseline() -> dict:
    """The watch window's metrics read over a few intervals just before the batch, with the same hours
    of the day before where gonogo_sample sampled them: the distribution "no worse" is measured against."""
    from gonogo.watching.watch import capture_baseline
    r = Rollout.current()
    return capture_baseline(r.ctx, hours=float(r.params["monitoring_hours"]) or None, log=log.info)


@task
def apply_migrations() -> list[dict]:
    """Each enabled migration in order, under the rollout lock and the lock timeout with retries,
    validated after each; skips what is applied, refuses an edited file, stops at a failure; never
    outside the low-traffic window."""
    return phases.apply(Rollout.current(), log=log.info)


@task(trigger_rule=TriggerRule.ONE_SUCCESS)
def rollback_migrations() -> list[dict]:
    """Undo what this run applied, the step in flight first, then the others in reverse;
    then prove the schema equals the pre-batch schema."""
    return ending.roll_back(Rollout.current(), log=log.info)


@task(trigger_rule=TriggerRule.ONE_SUCCESS)
def fix_forward() -> dict:
    """On-call chose to fix forward: what applied stays, recorded; a new run resumes after it."""
    from gonogo.apply import production
    r = Rollout.current()
    decision = r.decision(ids.DECIDE_ON_FAILURE) or r.decision(ids.DECIDE_AFTER_WATCH)
    return production.record_decision(r.ctx, "fix_forward", decision)


@task(trigger_rule=TriggerRule.ALL_DONE)
def report_outcome() -> str:
    """Tell Slack how the rollout ended; fail the run unless it completed."""
    return ending.report_outcome(Rollout.current())



@task
def apply_migration(step: str) -> list[dict]:
    """One migration of the batch on production, under the rollout lock and the lock timeout with
    retries, validated; skipped when applied before from this very file, refused when edited;
    never outside the low-traffic window."""
    return phases.apply(Rollout.current(), log=log.info, step=step)


@task
def validate_migration(step: str) -> list[dict]:
    """What the migration's apply node made, checked on production: its objects exist and are
    valid, its verify file holds, its tables kept their rows; a failure asks on-call."""
    return phases.validate(Rollout.current(), step, log=log.info)


@task
def all_applied(steps: list[str]) -> list[dict]:
    """Every migration's node applied (or skipped): their results, as one list (the watch window,
    the report and the outcome read it)."""
    return phases.gathered(Rollout.current(), steps)


@task(trigger_rule=TriggerRule.ONE_SUCCESS)
def rollback_migration(step: str) -> list[dict]:
    """Undo this migration if this run applied (or was applying) it; nothing otherwise."""
    return ending.roll_back_step(Rollout.current(), step, log=log.info)


@task(trigger_rule=TriggerRule.NONE_SKIPPED)
def rollback_verified() -> list[dict]:
    """After the migrations' rollbacks: the schema equals the pre-batch schema; Slack hears how
    the rollback went (also when one of them failed)."""
    return ending.rollback_verified(Rollout.current(), log=log.info)


def build(dag_id: str, doc_md: str, params: dict, outline: Outline | None = None) -> DAG:
    """The rollout DAG; with a batch's outline, each of its migrations a node on staging and on production."""
    with DAG(
        dag_id=dag_id,
        doc_md=doc_md,
        schedule=None,
        catchup=False,
        max_active_runs=1,
        tags=["gonogo", "postgresql", "migrations"] + (["batch"] if outline else []),
        default_args={"retries": 0, "on_failure_callback": on_task_failure},
        params=params,
    ) as dag:
        with TaskGroup("prepare"):
            validated = validate_batch([name for _, name, _ in outline.steps] if outline else None)
            planned = plan_steps()
            restored, linted = restore_staging(), lint_migrations()

        with TaskGroup("preflight"):
            gates = [check.override(task_id=f"check_{gate.name}", doc_md=gate.doc)(gate.name) for gate in PREFLIGHT]

        with TaskGroup("dry_run"):
            baseline = capture_baseline()
            if outline is None:
                applied_on_staging = apply_on_staging(baseline)
            else:  # a node per migration, in order; the first failure stops the ones after it
                rehearsals, previous = [], None
                for _, step, _ in outline.steps:
                    rehearsals.append(rehearse_migration.override(
                        task_id=ids.short(ids.migration(step, ids.MIGRATION_APPLY, ids.DRY_RUN)),
                        doc_md=f"Rehearse {step} on the staging copy.")(baseline, step, previous))
                    rehearsals.append(validate_rehearsal.override(
                        task_id=ids.short(current := ids.migration(step, ids.MIGRATION_VALIDATE, ids.DRY_RUN)),
                        doc_md=f"Validate {step} on the staging copy.")(baseline, step, previous))
                    previous = current
                applied_on_staging = all_rehearsed.override(task_id=ids.short(ids.APPLY_ON_STAGING))(
                    [name for _, name, _ in outline.steps])
                chain(*rehearsals, applied_on_staging)
            rehearsed = rehearse_rollbacks(baseline, applied_on_staging)
            observed = compare_observability(baseline, rehearsed)
            # the copy's scope: from its restore to the end of the dry run, however that ends
            observed >> drop_staging_copy().as_teardown(setups=restored)

        with TaskGroup("decide"):
            evaluated = evaluate_gates({found.operator.task_id: found
                                        for found in (linted, *gates, applied_on_staging, rehearsed, observed)})
            approve_rollout = RolloutApproval(
                task_id="approve_rollout",
                subject="Go/No-Go: roll batch {{ params.batch }} out to production?",
                body=ids.pulled(ids.EVALUATE_GATES),
                # no default: the page styles neither button as the choice; unanswered after a day, the
                # approval counts as a Reject (RolloutApproval.execute_complete)
                response_timeout=timedelta(hours=24),
                notifiers=[ApprovalNeeded()],  # Slack, with the button to this page, when it starts waiting
            )

        with TaskGroup("production"):
            approved, metrics_baseline, locked = record_approval(), capture_metrics_baseline(), take_rollout_lock()
            released = release_rollout_lock()
            window = LowTrafficWindow(task_id="wait_for_window", doc_md=LowTrafficWindow.__doc__)
            chain(approved, window, check_session_guards(), locked, take_backup(), create_restore_point(),
                  metrics_baseline)
            if outline is None:
                applies, rollbacks = [applied := apply_migrations()], [rolled_back := rollback_migrations()]
            else:  # a node per migration, then its validation: in order; rolled back in reverse, then the proof
                applies, rollbacks = [], []
                for i, (_, step, _) in enumerate(outline.steps):
                    applies.append(apply_migration.override(
                        task_id=ids.short(ids.migration(step, ids.MIGRATION_APPLY)), doc_md=f"Apply {step}.")(step))
                    applies.append(validate_migration.override(
                        task_id=ids.short(ids.migration(step, ids.MIGRATION_VALIDATE)),
                        doc_md=f"Validate {step} on production.")(step))
                    rollbacks.append(rollback_migration.override(  # the last migration's is the first to run
                        task_id=ids.short(ids.migration(step, ids.MIGRATION_ROLLBACK)),
                        doc_md=f"Roll {step} back, if this run applied it.",
                        trigger_rule=TriggerRule.ONE_SUCCESS if i == len(outline.steps) - 1
                        else TriggerRule.ALL_SUCCESS)(step))  # a failed rollback stops those before it
                applied = all_applied.override(task_id=ids.short(ids.APPLY))([name for _, name, _ in outline.steps])
                rolled_back = rollback_verified.override(task_id=ids.short(ids.ROLLBACK))()
                chain(*applies, applied)
                chain(*reversed(rollbacks), rolled_back)
            metrics_baseline >> applies[0]
            first_rollback = rollbacks[-1]
            decide_on_failure = FailureDecision(
                task_id="decide_on_failure", trigger_rule=TriggerRule.ONE_FAILED, when="apply_failed",
                subject="A production step of {{ params.batch }} failed: roll back or fix forward?",
                body=ids.pulled(ids.EVALUATE_GATES), apply_tasks=[a.operator.task_id for a in applies],
                rollback_task=first_rollback.operator.task_id, fix_forward_task=ids.FIX_FORWARD)
            fixing = fix_forward()
            applies >> decide_on_failure >> [first_rollback, fixing]

        with TaskGroup("watch"):
            # Retried, resuming its window: Airflow 3.3.2's scheduler fails a deferred task whose
            # trigger fires before the executor has reported the deferral (apache/airflow#67287),
            # which a loaded machine and an alarm at the first reading make happen.
            watch_window = WatchWindow(task_id="watch_window", baseline_task=ids.CAPTURE_METRICS_BASELINE,
                                       retries=2, retry_delay=timedelta(seconds=5))
            decide_after_watch = FailureDecision(  # asks also when the window's task failed
                task_id="decide_after_watch", when="watch_alarm", trigger_rule=TriggerRule.ALL_DONE,
                subject="The watch window of {{ params.batch }} raised an alarm: roll back or fix forward?",
                body=ids.pulled(ids.WATCH, "tojson"),
                rollback_task=first_rollback.operator.task_id, fix_forward_task=ids.FIX_FORWARD)

        chain(validated, planned, [restored, linted])
        restored >> gates >> baseline
        chain(evaluated, approve_rollout, approved)
        chain(applied, watch_window, decide_after_watch, [first_rollback, fixing])
        # the lock's scope: from before the backup until the rollback, fix forward or watch is over
        [rolled_back, fixing, decide_after_watch] >> released.as_teardown(setups=locked)
        [rolled_back, fixing] >> report_outcome()
    return dag
