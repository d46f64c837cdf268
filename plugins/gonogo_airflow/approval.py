"""The human decisions of a rollout, as Airflow HITL operators whose answer is kept in XCom
under the key "decision" whichever way it goes (the stock operators skip downstream by raising,
so their return value is lost on the branch not taken)."""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLBranchOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException


def _keep(context, event) -> None:
    if "error" not in event:
        context["ti"].xcom_push(key="decision", value={
            "chosen_options": list(event["chosen_options"]),
            "responded_by_user": event.get("responded_by_user"),
            "responded_at": str(event.get("responded_at")),
            "triggered_by": getattr(context.get("dag_run"), "triggering_user_name", None),
        })


def _users(names) -> list[dict]:
    """Airflow's HITL users (id and name: the login) for a list of logins."""
    return [{"id": name, "name": name} for name in names]


def four_eyes(approvers: list[str], triggered_by: str | None) -> list[str]:
    """Who may approve: the named approvers but the person who triggered the run; none named,
    anyone (Airflow's roles decide) — the triggerer's own approval is then refused after the
    click (RolloutApproval.execute_complete). Naming only the triggerer is a mistake to stop on."""
    allowed = [name for name in dict.fromkeys(approvers) if name != triggered_by]
    if approvers and not allowed:
        raise AirflowFailException(
            f"four eyes: the only approver named, {triggered_by}, triggered this run and cannot approve it; "
            f"name another approver (the trigger form's `approvers`, or the manifest's) and trigger again. "
            f"Production was not touched.")
    return allowed


def triggered_by(context) -> str | None:
    return getattr(context.get("dag_run"), "triggering_user_name", None)


class RolloutApproval(ApprovalOperator):
    """Go/No-Go: Approve or Reject, with the evidence in the body. Four eyes: only the approvers
    named (the form's, else the manifest's) may answer, never the person who triggered the run."""

    def execute(self, context):
        from gonogo_airflow.rollout import Rollout

        r = Rollout.from_context(context)
        allowed = four_eyes(list(r.params.get("approvers") or r.batch.approvers), triggered_by(context))
        if allowed:
            self.assigned_users = _users(allowed)
        return super().execute(context)

    def execute_complete(self, context, event):
        responder = (event.get("responded_by_user") or {}) if isinstance(event, dict) else {}
        starter = triggered_by(context)
        who = responder.get("name") or responder.get("id")
        self.log.info("answered %s by %s; the run was triggered by %s", event.get("chosen_options"), responder, starter)
        if ("error" not in event and list(event.get("chosen_options") or ()) == ["Approve"] and starter
                and starter in (responder.get("id"), responder.get("name"))):
            raise AirflowFailException(
                f"four eyes: {who} triggered this run and approved it; the approval of the person who triggered a "
                f"rollout does not count. Production was not touched: trigger again and ask another person "
                f"(name approvers in the trigger form or the manifest, and only they can answer).")
        _keep(context, event)
        return super().execute_complete(context, event)


class FailureDecision(HITLBranchOperator):
    """Something went wrong on production: on-call chooses to roll back what this run applied or
    to fix forward. `when`: "apply_failed" (a step failed) or "watch_alarm" (the watch window
    raised an alarm or was inconclusive); skipped otherwise, and when nothing ran on production.
    The default on timeout is the batch's `on_failure`; the timeout, failure_decision_minutes."""

    ROLL_BACK, FIX_FORWARD = "Roll back", "Fix forward"

    def __init__(self, *, when: str, rollback_task: str, fix_forward_task: str, **kwargs):
        super().__init__(options=[self.ROLL_BACK, self.FIX_FORWARD],
                         options_mapping={self.ROLL_BACK: rollback_task, self.FIX_FORWARD: fix_forward_task},
                         **kwargs)
        self.when = when

    def execute(self, context):
        from gonogo import production
        from gonogo_airflow.rollout import Rollout

        ti = context["ti"]
        if self.when == "apply_failed":
            failed = ti.get_ti_count(dag_id=ti.dag_id, run_ids=[ti.run_id], task_ids=["production.apply_migrations"],
                                     states=["failed"])
            if not failed:  # the failure came before production was touched: nothing to decide
                raise AirflowSkipException("apply_migrations did not run: nothing to roll back")
        elif (ti.xcom_pull(task_ids="watch.watch_window") or {}).get("status") == "passed":
            raise AirflowSkipException("the watch window passed: nothing to decide")
        r = Rollout.from_context(context)
        if not production.in_flight(r.ctx):
            raise AirflowSkipException("no migration ran on production in this run: nothing to roll back")
        self.defaults = [self.FIX_FORWARD if r.batch.on_failure == "fix_forward" else self.ROLL_BACK]
        if executors := list(r.params.get("rollback_executors") or r.batch.rollback_executors):
            self.assigned_users = _users(executors)  # the seed's "Assign rollback executor"
        self.response_timeout = timedelta(minutes=int(r.params["failure_decision_minutes"]))
        return super().execute(context)

    def execute_complete(self, context, event):
        _keep(context, event)
        return super().execute_complete(context, event)
