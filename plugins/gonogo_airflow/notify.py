"""Slack for gonogo: token and base_url from an Airflow Slack connection, sent with slack_sdk."""

from __future__ import annotations

import logging

from typing import TYPE_CHECKING

from airflow.sdk import BaseNotifier, Connection
from airflow.sdk.exceptions import AirflowNotFoundException

from gonogo.errors import GatesFailed, StepFailed
from gonogo.results import failures, from_dicts
from gonogo_airflow import ids
from gonogo_airflow.rollout import Rollout

if TYPE_CHECKING:  # slack_sdk loads when a message is sent, not at DAG parse time
    from gonogo.reporting.slack import Message

log = logging.getLogger("gonogo")


class OutcomeReported(Exception):
    """Raised by a task that has already told Slack why it fails: no second message."""


def send(rollout: Rollout, message: Message) -> bool:
    """Post to the run's Slack channel; a missing connection or a Slack error is logged, not raised,
    so that telling Slack never stops a rollback."""
    from slack_sdk.errors import SlackApiError

    from gonogo.reporting import slack

    conn_id = rollout.params["slack_conn_id"]
    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        log.warning("Slack connection %r is not defined: message NOT sent: %s", conn_id, message.text)
        return False
    try:
        slack.post(message, token=conn.password or "", channel=rollout.params["slack_channel"],
                   base_url=(conn.extra_dejson or {}).get("base_url"))
    except (SlackApiError, OSError) as exc:
        log.error("Slack message NOT sent (%s): %s", exc, message.text)
        return False
    log.info("Slack: sent %r to %s", message.text, rollout.params["slack_channel"])
    return True


def on_task_failure(context) -> None:
    """Every task's failure callback: one Slack message saying what failed and why. Whatever goes
    wrong while writing it (the batch no longer loads, the report cannot be read), on-call still
    gets the task and its error."""
    rollout = Rollout.from_context(context)
    error = context.get("exception")
    if isinstance(error, OutcomeReported):
        mark_alerted(rollout)
        return
    try:
        _alert(rollout, error)
    except Exception as failed:  # noqa: BLE001 - the alert must reach on-call whatever broke
        log.exception("the failure alert could not be written in full")
        send_bare(rollout, f"{type(error).__name__}: {error}" if error is not None else
                  "marked failed without an error from its own code", failed)
    mark_alerted(rollout)


def mark_alerted(rollout: Rollout) -> None:
    """Note in the task's XCom that on-call was told: a task killed from outside (kill -9, out of
    memory, a lost worker) never gets here, and report_outcome tells for it (unannounced)."""
    try:
        rollout.ti.xcom_push(key=ids.ALERTED, value=True)
    except Exception:  # noqa: BLE001 - the note must never cost the alert
        log.exception("could not note that the failure was told")


def unannounced(rollout: Rollout) -> list[str]:
    """The run's failed tasks that never told on-call themselves."""
    states = rollout.ti.get_task_states(dag_id=rollout.dag_id, run_ids=[rollout.run_id]).get(rollout.run_id, {})
    return [task for task, state in sorted(states.items())
            if str(state).lower().endswith("failed") and not str(state).lower().startswith("upstream")
            and task != rollout.task_id and not rollout.ti.xcom_pull(task_ids=task, key=ids.ALERTED)]


def send_bare(rollout: Rollout, what: str, failed: BaseException) -> bool:
    """The last resort: the task and what happened, from the run's ids alone."""
    from gonogo.reporting import slack

    return send(rollout, slack.task_failed(rollout.bare_info, rollout.task_id, f"{what}\n(gonogo's message about it "
                                           f"failed too: {type(failed).__name__}: {failed})", rollout.task_url))


def _alert(rollout: Rollout, error: BaseException | None) -> None:
    from gonogo.reporting import slack

    info = rollout.info
    if isinstance(error, GatesFailed):
        message = slack.no_go(info, failures(error.results), rollout.task_url)
    elif isinstance(error, StepFailed):
        message = slack.step_failed(info, error.step, str(error), rollout.task_url, error.before_changes,
                                    decision_url=rollout.decision_url(ids.DECIDE_ON_FAILURE))
    elif error is None:  # failed from outside its code: a user, a timeout, the scheduler
        message = slack.task_failed(info, rollout.task_id, "marked failed without an error from its own code "
                                    "(by a user, a timeout or the scheduler): its log says why", rollout.task_url)
    else:
        message = slack.task_failed(info, rollout.task_id, f"{type(error).__name__}: {error}", rollout.task_url)
    send(rollout, message)


def tell_orphans(rollout: Rollout, results: list) -> None:
    """Slack, when this task ended sessions a dead task of the run left on production."""
    from gonogo.reporting import slack
    from gonogo.apply.production import ORPHANS

    for result in from_dicts(results):
        if result.gate == ORPHANS:
            send(rollout, slack.orphans_ended(rollout.info, result, rollout.task_url))


class ApprovalNeeded(BaseNotifier):
    """The approval task's notifier: fires once, when it starts waiting, with the button to the
    approval page and the gates to look at."""

    def notify(self, context) -> None:
        from gonogo.reporting import slack

        rollout = Rollout.from_context(context)
        evidence = rollout.ti.xcom_pull(task_ids=ids.EVALUATE_GATES, key=ids.EVIDENCE)
        send(rollout, slack.approval_needed(rollout.info, from_dicts(evidence),
                                            rollout.decision_url(rollout.task_id)))
