"""The approval task: Airflow's ApprovalOperator, with the decision kept in XCom either way."""

from __future__ import annotations

from airflow.providers.standard.operators.hitl import ApprovalOperator


class RolloutApproval(ApprovalOperator):
    """On Reject the stock operator skips downstream by raising before it returns, so its return
    value never reaches XCom; the decision is pushed under the key "decision" first, so that the
    end of the run can report who rejected (or approved) and when."""

    def execute_complete(self, context, event):
        if "error" not in event:
            context["ti"].xcom_push(key="decision", value={
                "chosen_options": list(event["chosen_options"]),
                "responded_by_user": event.get("responded_by_user"),
                "responded_at": str(event.get("responded_at")),
            })
        return super().execute_complete(context, event)
