"""The human decisions of a rollout, as Airflow HITL operators whose answer is kept in XCom
under the key "decision" whichever way it goes (the stock operators skip downstream by raising,
so their return value is lost on the branch not taken)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLBranchOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.sdk.timezone import utcnow

from gonogo.reporting import signoff
from gonogo.decision import APPROVE, Answer, Decision

from gonogo_airflow import ids


def decision_of(context, event: dict, counted: dict | None = None) -> Decision:
    """Airflow's HITL answer (chosen_options, responded_by_user, responded_at) as the library's
    Decision — the one place that reads Airflow's shape. counted: the sign-off's state."""
    responder = event.get("responded_by_user") or {}
    chosen = list(event.get("chosen_options") or ())
    counted = counted or {}
    return Decision(choice=chosen[0] if chosen else None, by=responder.get("name") or responder.get("id"),
                    at=_iso(event.get("responded_at")), triggered_by=triggered_by(context),
                    required=int(counted.get("required") or 1),
                    approvals=tuple(Answer.from_dict(a) for a in counted.get("approvals") or ()),
                    not_counted=tuple(Answer.from_dict(a) for a in counted.get("not_counted") or ()))


def _keep(context, event, **counted) -> Decision:
    decision = decision_of(context, event, counted)
    if "error" not in event:
        context["ti"].xcom_push(key=ids.DECISION, value=decision.to_dict())
    return decision


def _iso(at) -> str | None:
    return at.isoformat() if hasattr(at, "isoformat") else (str(at) if at else None)


def _users(names) -> list[dict]:
    """Airflow's HITL users (id and name: the login) for a list of logins."""
    return [{"id": name, "name": name} for name in names]


def triggered_by(context) -> str | None:
    return getattr(context.get("dag_run"), "triggering_user_name", None)


def _groups(names) -> dict:
    """The Airflow Variable that lists the groups' members, read only when a group is named."""
    if not any(name.startswith(signoff.GROUP) for name in names):
        return {}
    from airflow.sdk import Variable

    return Variable.get(signoff.GROUPS_VARIABLE, default={}, deserialize_json=True)


class RolloutApproval(ApprovalOperator):
    """Go/No-Go: Approve or Reject, with the evidence in the body. Four eyes (gonogo.reporting.signoff):
    only the approvers named (the form's, else the manifest's; "@group" for a group's members) may
    answer, never the person who triggered the run, and `approvals_required` different people
    must approve. An Approve that does not count, or one of several still needed, asks again in
    the same task (one page, one deadline); every answer is kept in XCom "signoff"."""

    def execute(self, context):
        from gonogo_airflow.rollout import Rollout

        r = Rollout.from_context(context)
        names = list(r.params.get("approvers") or r.batch.approvers)
        required = int(r.params.get("approvals_required") or r.batch.approvals_required)
        starter = triggered_by(context)
        try:
            allowed = signoff.eligible(signoff.resolve(names, _groups(names)), starter, required)
        except signoff.SignoffError as exc:
            raise AirflowFailException(str(exc)) from None
        if allowed:
            self.assigned_users = _users(allowed)
        deadline = utcnow() + self.response_timeout if self.response_timeout else None
        self.body = (f"{signoff.ask_line(allowed, starter, required)} {signoff.buttons_line(deadline)}"
                     f"\n\n{self.body or ''}")
        context["ti"].xcom_push(key=ids.SIGNOFF, value={
            "required": required, "approvals": [], "not_counted": [], "eligible": allowed,
            "deadline": _iso(deadline)})
        return super().execute(context)

    def execute_complete(self, context, event):
        ti = context["ti"]
        state = ti.xcom_pull(task_ids=self.task_id, key=ids.SIGNOFF) or {"required": 1, "approvals": [],
                                                                         "not_counted": []}
        counted = {k: state.get(k) or [] for k in ("approvals", "not_counted")} | {"required": state["required"]}
        if event.get("error_type") == "timeout":  # no default on the page (neither button looks chosen): unanswered is a Reject
            event = {"chosen_options": [self.REJECT], "params_input": {}, "responded_at": utcnow(),
                     "responded_by_user": None}
        answer = decision_of(context, event, counted)
        who, at = answer.by, answer.at
        self.log.info("answered %s by %s; the run was triggered by %s", answer.choice, who, answer.triggered_by)
        if "error" in event or answer.choice != APPROVE:
            _keep(context, event, **counted)
            return super().execute_complete(context, event)
        if why := signoff.not_counted(answer, who):
            counted["not_counted"].append({"user": who, "at": at, "why": why})
            note = f"the Approve of {who} does not count: {why}"
        else:
            counted["approvals"].append({"user": who, "at": at})
            note = f"{who} approved ({len(counted['approvals'])} of {counted['required']})"
        left = signoff.missing(decision_of(context, event, counted))
        if not left:
            _keep(context, event, **counted)
            return super().execute_complete(context, event)
        self.log.warning("%s; %d more approval(s) needed: asking again", note, left)
        ti.xcom_push(key=ids.SIGNOFF, value={**state, **counted})
        others = [name for name in state.get("eligible") or () if name not in {a["user"] for a in counted["approvals"]}]
        self._tell(context, f"{note}. Still needed: {left} approval(s) from "
                            f"{', '.join(others) or 'another person (not the one who triggered the run)'}.")
        return self._ask_again(context, state)

    def _tell(self, context, text: str) -> None:
        from gonogo.reporting import slack
        from gonogo_airflow.notify import send
        from gonogo_airflow.rollout import Rollout

        r = Rollout.from_context(context)
        send(r, slack.signoff_pending(r.info, text, r.decision_url(self.task_id)))

    def _ask_again(self, context, state: dict):
        """The same question again on the same page (Airflow clears the answer), with what is left
        of the first ask's deadline."""
        from airflow.sdk.execution_time.hitl import upsert_hitl_detail
        from airflow.sdk.exceptions import TaskAwaitingInput

        deadline = state.get("deadline")
        left = datetime.fromisoformat(deadline) - utcnow() if deadline else None
        if left is not None and left <= timedelta(0):
            raise AirflowFailException("the approval timed out before enough different people approved: "
                                       "rejected, production untouched")
        upsert_hitl_detail(ti_id=context["task_instance"].id, options=self.options, subject=self.subject,
                           body=self.body, defaults=self.defaults, multiple=self.multiple,
                           params=self.serialized_params, assigned_users=self.assigned_users)
        raise TaskAwaitingInput(method_name="execute_complete", timeout=left)


WATCH_FAILED = "The watch window of {batch} did not complete (its task failed): roll back or fix forward?"


class FailureDecision(HITLBranchOperator):
    """Something went wrong on production: on-call chooses to roll back what this run applied or
    to fix forward. `when`: "apply_failed" (a step failed) or "watch_alarm" (the watch window
    raised an alarm, was inconclusive, or its task failed); skipped otherwise, and when nothing
    ran on production.
    The default on timeout is the batch's `on_failure`; the timeout, failure_decision_minutes."""

    ROLL_BACK, FIX_FORWARD = "Roll back", "Fix forward"

    def __init__(self, *, when: str, rollback_task: str, fix_forward_task: str,
                 apply_tasks: list[str] | tuple[str, ...] = (ids.APPLY,), **kwargs):
        super().__init__(options=[self.ROLL_BACK, self.FIX_FORWARD],
                         options_mapping={self.ROLL_BACK: rollback_task, self.FIX_FORWARD: fix_forward_task},
                         **kwargs)
        self.when, self.apply_tasks = when, list(apply_tasks)  # the task(s) applying the migrations

    def execute(self, context):
        from gonogo.apply import production
        from gonogo.reporting import outcome, slack
        from gonogo_airflow.notify import send
        from gonogo_airflow.rollout import Rollout

        ti, incomplete = context["ti"], False
        if self.when == "apply_failed":
            failed = ti.get_ti_count(dag_id=ti.dag_id, run_ids=[ti.run_id], task_ids=self.apply_tasks,
                                     states=["failed"])
            if not failed:  # the failure came before production was touched: nothing to decide
                raise AirflowSkipException("apply_migrations did not run: nothing to roll back")
        else:
            watched = ti.xcom_pull(task_ids=ids.WATCH)
            if (watched or {}).get("status") == "passed":
                raise AirflowSkipException("the watch window passed: nothing to decide")
            if watched is None:  # no verdict: the window's task failed (asked), or never ran (not)
                if not ti.get_ti_count(dag_id=ti.dag_id, run_ids=[ti.run_id], task_ids=[ids.WATCH], states=["failed"]):
                    raise AirflowSkipException("the watch window did not run: nothing to decide")
                incomplete, self.subject = True, WATCH_FAILED.format(batch=context["params"]["batch"])
                self.body = (f"{outcome.WATCH_INCOMPLETE.capitalize()}: {outcome.WATCH_TASK_FAILED}. Roll back "
                             "what this run applied, or fix forward and keep it.")
        r = Rollout.from_context(context)
        if not production.in_flight(r.ctx):
            raise AirflowSkipException("no migration ran on production in this run: nothing to roll back")
        if incomplete:  # an alarm tells Slack from the watch task; a failed one cannot
            send(r, slack.watch_incomplete(r.info, r.decision_url(self.task_id)))
        self.defaults = [self.FIX_FORWARD if r.batch.on_failure == "fix_forward" else self.ROLL_BACK]
        if names := list(r.params.get("rollback_executors") or r.batch.rollback_executors):
            try:  # the seed's "Assign rollback executor"
                self.assigned_users = _users(signoff.resolve(names, _groups(names)))
            except signoff.SignoffError as exc:  # a typo must not leave production without a decision
                self.log.error("rollback executors: %s; anyone Airflow's roles allow may decide", exc)
        self.response_timeout = timedelta(minutes=int(r.params["failure_decision_minutes"]))
        return super().execute(context)

    def execute_complete(self, context, event):
        _keep(context, event)
        return super().execute_complete(context, event)
