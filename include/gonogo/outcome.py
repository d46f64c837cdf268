"""How a rollout ended, decided from what its phases returned (None = did not finish)."""

from __future__ import annotations

from dataclasses import dataclass

from gonogo.results import failures, from_dicts


@dataclass(frozen=True)
class Outcome:
    kind: str       # completed | stopped | rejected | rolled_back | fixing_forward | watch_alarm
    summary: str
    already_told: bool  # Slack heard about it from the task that failed

    @property
    def ok(self) -> bool:
        return self.kind == "completed"


def decide(*, gates_report: str | None, approval: dict | None, applied: list[dict] | None,
           watched: list[dict] | None, on_failure: dict | None = None) -> Outcome:
    """Arguments are what the phases returned through XCom; None means the phase did not finish."""
    if gates_report is None:
        return Outcome("stopped", "the rollout stopped before the approval: a gate failed or could "
                                  "not be measured (see decide.evaluate_gates and the report)", True)
    if not approval:
        return Outcome("stopped", "the approval step did not complete", True)
    if approval.get("chosen_options") != ["Approve"]:
        who = (approval.get("responded_by_user") or {}).get("name") or "the approval timeout"
        return Outcome("rejected", f"rejected by {who}: production untouched", False)
    if applied is None:
        if on_failure and on_failure.get("chosen_options") == ["Fix forward"]:
            who = (on_failure.get("responded_by_user") or {}).get("name") or "the decision timeout"
            return Outcome("fixing_forward", f"a production step failed and {who} chose to fix forward: "
                                             f"what applied stays; fix the cause and trigger again to resume", True)
        return Outcome("rolled_back", "a production step failed; see rollback_migrations for what was "
                                      "undone", True)
    if watched is None:
        return Outcome("watch_alarm", "the watch window did not complete", True)
    if alarms := failures(from_dicts(watched)):
        return Outcome("watch_alarm", "the watch window raised: " + "; ".join(
            f"{r.title}: {r.message}" for r in alarms), False)
    steps = {r.subject for r in from_dicts(applied) if r.subject}
    return Outcome("completed", f"{len(steps)} steps applied, validated and watched", False)


def record_rejection(ctx, decision: dict) -> None:
    """A Reject lands in production's audit trail like an approval does (ctx: a RunContext)."""
    from gonogo.production import record_decision

    record_decision(ctx, "reject", decision)
