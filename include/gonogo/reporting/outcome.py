"""How a rollout ended, decided from what its phases returned (None = did not finish)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gonogo.decision import FIX_FORWARD, Decision
from gonogo.results import GateResult, failures, from_dicts

# A watch task that failed every try: said the same in the outcome, the question to on-call and Slack.
WATCH_INCOMPLETE = "the watch window did not complete"
WATCH_TASK_FAILED = ("its task failed (its log and the alert about it say why), so production was not watched "
                     "to the end with the batch applied")


@dataclass(frozen=True)
class Outcome:
    kind: str       # completed | stopped | rejected | rolled_back | fixing_forward | watch_alarm
    summary: str
    already_told: bool  # Slack heard about it from the task that failed or raised the alarm
    next_steps: str = ""
    who: str = ""       # who decided it: the approvers of a completed rollout, the one who rejected

    @property
    def ok(self) -> bool:
        return self.kind in ("completed", "nothing_to_apply")


def _who(decision: Decision | None, default: str) -> str:
    return (decision.by if decision else None) or default


def who_decided(decision: Decision | None, default: str = "the decision timeout") -> str:
    """Who answered a question of the run (on-call's roll back or fix forward, say)."""
    return _who(decision, default)


def approvers(approval: Decision | None) -> str:
    """"a and b": each approval counted, in order (else the one who answered)."""
    return " and ".join(approval.approvers) if approval and approval.approvers else _who(approval, "")


def decide(*, gates_report: str | None, approval: Decision | None, applied: list[dict] | None,
           watched: dict | None, on_failure: Decision | None = None, after_watch: Decision | None = None,
           disabled_steps: list[str] = (), started: list[str] | None = None,
           stopped_at: str | None = None) -> Outcome:
    """Arguments are what the phases returned through XCom; None means the phase did not finish.
    on_failure / after_watch: on-call's answer after a failed step / a watch alarm.
    started: the steps production's history says this run started, rolled back or not (None: not
    known); stopped_at: the first production task that did not finish."""
    if gates_report is None:
        return Outcome("stopped", "the rollout stopped before the approval: a gate failed or could "
                                  "not be measured (see decide.evaluate_gates and the report)", True)
    if not approval:
        return Outcome("stopped", "the approval step did not complete", True)
    if not approval.approved:
        return Outcome("rejected", f"rejected by {_who(approval, 'the approval timeout')}: production untouched", False,
                       who=_who(approval, ""))
    if applied is None:
        if on_failure and on_failure.choice == FIX_FORWARD:
            return Outcome("fixing_forward", f"a production step failed and {_who(on_failure, 'the decision timeout')} "
                                             f"chose to fix forward: what applied stays; fix the cause and trigger "
                                             f"again to resume", True)
        if started == [] or (started is None and stopped_at not in (None, "apply_migrations")):
            # a task before the first migration failed (backup, restore point, ...): nothing ran, nothing to undo
            task = f"production.{stopped_at}" if stopped_at else "a production task"
            return Outcome("stopped", f"{task} failed before any migration was applied: production untouched, "
                                      f"nothing to roll back (the task's log says why; fix it and trigger again)", True)
        by = f" ({_who(on_failure, 'the decision timeout')} chose to roll back)" if on_failure else ""
        return Outcome("rolled_back", f"a production step failed{by}; see rollback_migrations for what was undone", True,
                       who=_who(on_failure, ""))
    if watched is None or watched.get("status") != "passed":
        if watched is None:  # its task failed: on-call was asked all the same
            happened = alarm = WATCH_INCOMPLETE
        else:
            what = "; ".join(f"{r.title}: {r.message}" for r in failures(from_dicts(watched.get("results"))))
            was = f"the watch window was {watched['status']}"
            happened, alarm = f"{was} ({what})", f"{was}: {what}"
        who = _who(after_watch, "the decision timeout")
        if after_watch and after_watch.choice == FIX_FORWARD:
            return Outcome("fixing_forward", f"{happened} and {who} chose to fix forward", True)
        if after_watch:
            return Outcome("rolled_back", f"{happened}; {who} chose to roll back", True, who=_who(after_watch, ""))
        return Outcome("watch_alarm", alarm, True)
    steps = {r.subject for r in from_dicts(applied) if r.subject and r.gate == "step_applied"}
    by = approvers(approval)
    return Outcome("completed", f"{len(steps)} steps applied, validated and watched"
                   + (f"; approved by {by}" if by else ""), False,
                   next_steps=_cleanup_note(watched, disabled_steps), who=by)


def nothing_to_apply(applied_before: list[GateResult], disabled_steps: list[str]) -> Outcome:
    """Every enabled step was applied before from these very files: no copy, no gate, no
    approval, no change."""
    steps = sum(1 for r in applied_before if r.subject)
    disabled = (f" Still disabled: {', '.join(f'`{s}`' for s in disabled_steps)} (trigger with enable_steps naming "
                f"it to apply it, after its own dry run and approval)." if disabled_steps else "")
    return Outcome("nothing_to_apply", f"nothing to apply: every enabled step ({steps}) was applied before from these "
                                       f"very files; no copy was made, nobody was asked, production untouched", False,
                   next_steps=disabled.strip())


def _cleanup_note(watched: dict, disabled_steps: list[str]) -> str:
    """Seed, Next Steps: the disabled cleanup waits for a week of stable metrics."""
    if not disabled_steps:
        return ""
    from gonogo.watching.watch import cleanup_from

    ended = datetime.fromisoformat(watched["ended_at"])
    return (f"Still disabled: {', '.join(f'`{s}`' for s in disabled_steps)}. After a week of stable metrics it may "
            f"be enabled from {cleanup_from(ended):%Y-%m-%d %H:%M} UTC: trigger the DAG with enable_steps naming "
            f"it; it then goes through its own dry run and approval.")


def record_rejection(ctx, decision: Decision) -> None:
    """A Reject lands in production's audit trail like an approval does (ctx: a RunContext)."""
    from gonogo.apply.production import record_decision

    record_decision(ctx, "reject", decision)
