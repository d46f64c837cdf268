"""The bodies of the DAG's tasks that do more than call the library once: the DAG file stays
configuration (which task, in which order, with which trigger rule)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from gonogo.results import to_dicts
from gonogo_airflow import ids
from gonogo_airflow.notify import tell_orphans
from gonogo_airflow.rollout import Rollout


def evaluate(r: Rollout, evidence: dict) -> str:
    """Write the Go/No-Go report from every check's evidence ({task id: its results, None when it
    did not finish}); skipped when the batch or the staging copy was never prepared (that task's
    alert said why)."""
    from airflow.sdk.exceptions import AirflowSkipException

    from gonogo.reporting.report import after_approval, go_no_go, step_counts
    from gonogo.results import gathered

    if r.nothing_to_apply:
        raise AirflowSkipException("nothing to apply: every enabled step was applied before from these very files")
    if r.ti.xcom_pull(task_ids=ids.RESTORE_STAGING) is None:
        raise AirflowSkipException("the batch or the staging copy was not prepared: nothing to evaluate")
    results = gathered(evidence)
    r.ti.xcom_push(key=ids.EVIDENCE, value=to_dicts(results))  # for the final report
    after = after_approval(step_counts(r.batch, results)["to_apply"], float(r.params["monitoring_hours"]),
                           r.window.describe() if r.window else "")
    # the report is written before the body is read: the body links to it
    return go_no_go(r.folder, dataclasses.replace(r.info, report_url=r.report_url), r.batch, results, after)


def check_guards(r: Rollout, log: Callable[[str], None]) -> list[dict]:
    from gonogo.apply import production

    results = production.check_guards(r.ctx, log=log)
    tell_orphans(r, results)
    return results


def apply(r: Rollout, log: Callable[[str], None], step: str | None = None) -> list[dict]:
    """The migrations (or `step` alone: its node), never outside the low-traffic window (it may
    have ended during the backup or the step before); a failed step raises StepFailed for
    on-call's decision."""
    from gonogo.apply import production

    if r.window is not None:
        r.window.check(what=f"the migration {step}" if step else "the migrations")
    # a migration's node leaves its validation to its validate node, with the row counts it took
    run = production.apply(r.ctx, log=log, step=step, validate=step is None)
    tell_orphans(r, to_dicts(run.results))
    if step is not None:
        r.ti.xcom_push(key=ids.COUNTED, value=run.counted)
    return _ran(r, run)


def validate(r: Rollout, step: str, log: Callable[[str], None]) -> list[dict]:
    """A migration's validation node on production: what its apply node applied, checked; nothing
    when that node applied nothing (applied before, disabled in this run)."""
    from gonogo.apply import production

    counted = r.ti.xcom_pull(task_ids=ids.migration(step, ids.MIGRATION_APPLY), key=ids.COUNTED) or {}
    return _ran(r, production.validate(r.ctx, step, counted, log=log))


def _ran(r: Rollout, run) -> list[dict]:
    """A production task's results; a failed step raises StepFailed for on-call's decision."""
    from gonogo.errors import StepFailed

    if not run.ok:
        # a failed task keeps no return value: the final report reads the results from here
        r.ti.xcom_push(key=ids.STEP_RESULTS, value=to_dicts(run.results))
        raise StepFailed(run.error, step=run.failed_step, results=run.results)
    return to_dicts(run.results)


def rehearse(r: Rollout, step: str, baseline: dict, previous: str | None, log: Callable[[str], None]) -> list[dict]:
    """A migration's node on staging: the step applied under the app's traffic, its locks traced;
    skipped when the node before it (`previous`, the validation of the step before) found its
    step failing: the rehearsal stops at the first failure, as the one task's loop does."""
    from gonogo.rehearsal import dryrun

    _stopped_before(r, previous)
    run = dryrun.rehearse(r.ctx, dryrun.Baseline.from_json(baseline), log=log, step=step, validate=False)
    r.ti.xcom_push(key=ids.COUNTED, value=run.counted)
    if run.failed_step:
        r.ti.xcom_push(key=ids.FAILED_STEP, value=run.failed_step)
    return to_dicts(run.results)


def validate_rehearsed(r: Rollout, step: str, baseline: dict, previous: str | None,
                       log: Callable[[str], None]) -> list[dict]:
    """A migration's validation node on staging, after its rehearsal node: the step's objects,
    verify file and rows; the app's plans, the contracts and commands due (`previous`: the
    validation node before it, whose queries broken so far it carries on)."""
    from gonogo.rehearsal import dryrun

    applied = ids.migration(step, ids.MIGRATION_APPLY, ids.DRY_RUN)
    if failed := r.ti.xcom_pull(task_ids=applied, key=ids.FAILED_STEP):  # its evidence says why
        r.ti.xcom_push(key=ids.FAILED_STEP, value=failed)
        return []
    broken_since = dict((previous and r.ti.xcom_pull(task_ids=previous, key=ids.BROKEN_SINCE)) or {})
    run = dryrun.validate(r.ctx, dryrun.Baseline.from_json(baseline), step,
                          r.ti.xcom_pull(task_ids=applied, key=ids.COUNTED) or {}, log=log, broken_since=broken_since)
    r.ti.xcom_push(key=ids.BROKEN_SINCE, value=broken_since)
    if run.failed_step:
        r.ti.xcom_push(key=ids.FAILED_STEP, value=run.failed_step)
    return to_dicts(run.results)


def _stopped_before(r: Rollout, previous: str | None) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    if previous and (failed := r.ti.xcom_pull(task_ids=previous, key=ids.FAILED_STEP)):
        raise AirflowSkipException(f"{failed} failed on staging: the rehearsal stopped there")


def gathered(r: Rollout, steps: list[str], group: str = "production") -> list[dict]:
    """The results of each migration's nodes in `group` (its apply and its validation, on
    production or on staging), in the batch's order: one list, as the batch's one task returns it."""
    found = []
    for step in steps:
        for node in (ids.MIGRATION_APPLY, ids.MIGRATION_VALIDATE):
            found += r.ti.xcom_pull(task_ids=ids.migration(step, node, group)) or []
    return found
