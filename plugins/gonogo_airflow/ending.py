"""How a rollout ends, as the DAG's last tasks do it: the rollback on-call chose, and the
outcome told to Slack, written into the final report and raised as the run's state."""

from __future__ import annotations

from collections.abc import Callable

from gonogo.results import failures, to_dicts
from gonogo_airflow.notify import OutcomeReported, send
from gonogo_airflow.rollout import Rollout


def roll_back(r: Rollout, log: Callable[[str], None]) -> list[dict]:
    """Undo what this run applied and prove the pre-batch schema; Slack hears either way, and a
    rollback that did not finish fails the task without a second message."""
    from gonogo import production, slack

    pre_batch = r.ti.xcom_pull(task_ids="production.take_backup", key="pre_batch_schema")
    results = production.rollback(r.ctx, pre_batch, log=log)
    send(r, slack.rolled_back(r.info, results, r.task_url))
    if failures(results):
        raise OutcomeReported("rollback incomplete: " + "; ".join(f.message for f in failures(results)))
    return to_dicts(results)


def report_outcome(r: Rollout) -> str:
    """Decide how the rollout ended from what its phases returned, rewrite the report with it,
    record a rejection, tell Slack (unless a failing task already did), and fail unless it completed."""
    from gonogo import outcome, slack

    pull = r.ti.xcom_pull
    applied, watched = pull(task_ids="production.apply_migrations"), pull(task_ids="watch.watch_window")
    end = outcome.decide(gates_report=pull(task_ids="decide.evaluate_gates"), applied=applied, watched=watched,
                         approval=r.decision("decide.approve_rollout"),
                         on_failure=r.decision("production.decide_on_failure"),
                         after_watch=r.decision("watch.decide_after_watch"),
                         disabled_steps=[] if applied is None else [s.name for s in r.batch.steps if not s.enabled])
    r.write_final_report(applied, watched, end)
    if end.kind == "rejected":
        outcome.record_rejection(r.ctx, r.decision("decide.approve_rollout"))
    if message := slack.for_outcome(r.info, end, applied, watched):
        send(r, message)
    if not end.ok:
        raise OutcomeReported(f"rollout {end.kind}: {end.summary}")
    return end.summary
