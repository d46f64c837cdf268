"""How a rollout ends, as the DAG's last tasks do it: the rollback on-call chose, and the
outcome told to Slack, written into the final report and raised as the run's state."""

from __future__ import annotations

import logging
from collections.abc import Callable

from gonogo.results import failures, to_dicts
from gonogo_airflow import ids
from gonogo_airflow.notify import OutcomeReported, send, send_bare, tell_orphans, unannounced
from gonogo_airflow.rollout import Rollout

_log = logging.getLogger("gonogo")


def roll_back(r: Rollout, log: Callable[[str], None]) -> list[dict]:
    """Undo what this run applied and prove the pre-batch schema; Slack hears either way, and a
    rollback that did not finish fails the task without a second message."""
    from gonogo.apply import production

    results = production.rollback(r.ctx, _pre_batch(r), log=log, decision=_chosen_by(r))
    tell_orphans(r, to_dicts(results))
    return _told(r, results)


def roll_back_step(r: Rollout, step: str, log: Callable[[str], None]) -> list[dict]:
    """A migration's rollback node: undo it if this run applied it. A rollback that fails stops
    those before it (their nodes do not run); rollback_verified tells Slack."""
    from gonogo.apply import production
    from gonogo.errors import StepFailed

    results = production.rollback(r.ctx, _pre_batch(r), log=log, decision=_chosen_by(r), step=step)
    tell_orphans(r, to_dicts(results))
    if failures(results):
        raise StepFailed("; ".join(f.message for f in failures(results)), step=step, results=results)
    return to_dicts(results)


def rollback_verified(r: Rollout, log: Callable[[str], None]) -> list[dict]:
    """After a batch's rollback nodes: their results and the schema compared with the pre-batch
    schema; Slack hears how it went, and an incomplete rollback fails the task."""
    from gonogo.apply import production
    from gonogo.results import from_dicts

    undone = []
    for step in reversed(r.batch.steps):
        undone += r.ti.xcom_pull(task_ids=ids.migration(step.name, ids.MIGRATION_ROLLBACK)) or []
    results = from_dicts(undone) + [production.restored(r.ctx, _pre_batch(r))]
    log(f"schema after the rollback: {results[-1].message}")
    return _told(r, results)


def _pre_batch(r: Rollout) -> dict:
    return r.ti.xcom_pull(task_ids=ids.TAKE_BACKUP, key=ids.PRE_BATCH_SCHEMA)


def _chosen_by(r: Rollout):
    return r.decision(ids.DECIDE_ON_FAILURE) or r.decision(ids.DECIDE_AFTER_WATCH)


def _told(r: Rollout, results: list) -> list[dict]:
    from gonogo.reporting import outcome, slack

    send(r, slack.rolled_back(r.info, results, r.task_url, decided_by=outcome.who_decided(_chosen_by(r)),
                              approved_by=outcome.approvers(r.decision(ids.APPROVE))))
    if failures(results):
        raise OutcomeReported("rollback incomplete: " + "; ".join(f.message for f in failures(results)))
    return to_dicts(results)


def _started(r: Rollout) -> list[str] | None:
    """The steps this run started on production, from its history; None where it cannot be
    read (the outcome then judges from the tasks that finished)."""
    import psycopg

    from gonogo.apply import production
    from gonogo.errors import GonogoError

    try:
        return production.started(r.ctx)
    except (GonogoError, psycopg.Error):
        return None


def report_outcome(r: Rollout) -> str:
    """Decide how the rollout ended from what its phases returned, rewrite the report with it,
    record a rejection, tell Slack (unless a failing task already did), and fail unless it completed.
    If that itself fails, Slack still hears that the run ended and why its report did not."""
    _tell_unannounced(r)
    try:
        return _report_outcome(r)
    except OutcomeReported:
        raise
    except Exception as failed:
        send_bare(r, "the run ended, but its outcome and final report could not be written; the tasks' "
                     "states and logs say how it went", failed)
        raise OutcomeReported(f"the outcome could not be reported: {type(failed).__name__}: {failed}") from failed


def _tell_unannounced(r: Rollout) -> None:
    """A task killed from outside dies with its failure alert: this last task of the run (it runs
    whatever happened before it) tells on-call about each failed task that did not."""
    from gonogo.reporting import slack

    try:
        silent = unannounced(r)
    except Exception:  # noqa: BLE001 - the outcome below must still be told
        _log.exception("could not read which tasks failed without telling")
        return
    for task in silent:
        send(r, slack.task_failed(
            r.bare_info, task, "failed without its own alert: it was ended from outside (kill -9, out of memory, a "
            "lost worker, a heartbeat timeout) before it could tell. Its log and the worker's say why; a production "
            "session it left is ended by the run's next production task.", f"{r.run_url}/tasks/{task}"))


def _report_outcome(r: Rollout) -> str:
    from gonogo.reporting import outcome, slack

    if r.nothing_to_apply:
        return _nothing_to_apply(r)
    pull = r.ti.xcom_pull
    applied, watched = pull(task_ids=ids.APPLY), pull(task_ids=ids.WATCH)
    approval = r.decision(ids.APPROVE)
    started = stopped_at = None
    if applied is None and approval and approval.approved:
        stopped_at = next((ids.short(t) for t in ids.PRODUCTION_TASKS if pull(task_ids=t) is None), None)
        started = _started(r)
    end = outcome.decide(gates_report=pull(task_ids=ids.EVALUATE_GATES), applied=applied, watched=watched,
                         approval=approval,
                         on_failure=r.decision(ids.DECIDE_ON_FAILURE),
                         after_watch=r.decision(ids.DECIDE_AFTER_WATCH),
                         disabled_steps=[] if applied is None else [s.name for s in r.batch.steps if not s.enabled],
                         started=started, stopped_at=stopped_at)
    r.write_final_report(applied, watched, end)
    if end.kind == "rejected":
        outcome.record_rejection(r.ctx, r.decision(ids.APPROVE))
    if message := slack.for_outcome(r.info, end, applied, watched):
        send(r, message)
    if not end.ok:
        raise OutcomeReported(f"rollout {end.kind}: {end.summary}")
    return end.summary


def _nothing_to_apply(r: Rollout) -> str:
    """The run found every enabled step applied: a report that says so (which run applied each,
    when, from which file), Slack, and a green run."""
    from gonogo.reporting import outcome, slack
    from gonogo.apply import production
    from gonogo.reporting.report import write_reports

    _, applied_before = production.plan(r.ctx)
    end = outcome.nothing_to_apply(applied_before, [s.name for s in r.batch.steps if not s.enabled])
    write_reports(r.folder, r.info, r.batch, applied_before, end)
    send(r, slack.for_outcome(r.info, end, None, None))
    return end.summary
