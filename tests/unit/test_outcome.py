"""How a rollout ended, from what its phases returned."""

from __future__ import annotations

from gonogo.decision import Decision
from gonogo.reporting.outcome import decide
from gonogo.results import GateResult, Verdict

APPROVED = Decision(choice="Approve", by="dana")


def result(gate: str, verdict: Verdict, subject: str = "", phase: str = "production") -> dict:
    """A result as the phases hand it on through XCom: a dict."""
    return GateResult(gate=gate, title=gate.replace("_", " ").capitalize(), verdict=verdict, value="v",
                      threshold="t", message=f"{gate} measured {verdict.value}", phase=phase,
                      subject=subject).to_dict()


APPLIED = [result("step_applied", Verdict.PASS, "step_1"), result("objects_valid", Verdict.PASS, "step_1"),
           result("step_applied", Verdict.PASS, "step_2"), result("session_guards", Verdict.PASS)]
WATCH_RESULTS = [result("watch_objects_valid", Verdict.PASS, phase="watch"),
                 result("watch_deadlocks", Verdict.WARN, phase="watch")]
WATCHED = {"status": "passed", "ended_at": "2026-11-24T06:00:00+00:00", "results": WATCH_RESULTS}


def test_no_gates_report_means_stopped_before_the_approval():
    outcome = decide(gates_report=None, approval=None, applied=None, watched=None)
    assert outcome.kind == "stopped" and not outcome.ok
    assert outcome.already_told


def test_unanswered_approval_means_stopped():
    outcome = decide(gates_report="report.md", approval=None, applied=None, watched=None)
    assert outcome.kind == "stopped" and not outcome.ok


def test_reject_names_the_responder():
    approval = Decision(choice="Reject", by="alex.dba")
    outcome = decide(gates_report="report.md", approval=approval, applied=None, watched=None)
    assert outcome.kind == "rejected" and not outcome.ok
    assert "alex.dba" in outcome.summary and "production untouched" in outcome.summary
    assert not outcome.already_told


def test_reject_by_timeout_says_so():
    outcome = decide(gates_report="report.md", approval=Decision(choice="Reject"), applied=None, watched=None)
    assert outcome.kind == "rejected" and "timeout" in outcome.summary


def test_no_applied_results_after_approval_means_rolled_back():
    outcome = decide(gates_report="report.md", approval=APPROVED, applied=None, watched=None)
    assert outcome.kind == "rolled_back" and not outcome.ok


def test_watch_failure_is_an_alarm_naming_what_failed():
    watched = {**WATCHED, "status": "alarm",
               "results": [*WATCH_RESULTS, result("watch_lock_waits", Verdict.FAIL, phase="watch")]}
    outcome = decide(gates_report="report.md", approval=APPROVED, applied=APPLIED, watched=watched)
    assert outcome.kind == "watch_alarm" and not outcome.ok
    assert "Watch lock waits: watch_lock_waits measured FAIL" in outcome.summary
    assert "deadlocks" not in outcome.summary  # a WARN is not an alarm


def test_unfinished_watch_is_an_alarm():
    outcome = decide(gates_report="report.md", approval=APPROVED, applied=APPLIED, watched=None)
    assert outcome.kind == "watch_alarm"


def test_all_good_is_completed_and_counts_the_steps():
    outcome = decide(gates_report="report.md", approval=APPROVED, applied=APPLIED, watched=WATCHED)
    assert outcome.kind == "completed" and outcome.ok
    assert outcome.summary.startswith("2 steps applied")


def test_inconclusive_watch_is_an_alarm_not_a_pass():
    outcome = decide(gates_report="report.md", approval=APPROVED, applied=APPLIED,
                     watched={**WATCHED, "status": "inconclusive"})
    assert outcome.kind == "watch_alarm" and not outcome.ok and "inconclusive" in outcome.summary


def test_on_call_answer_after_a_watch_alarm_decides_the_outcome():
    alarm = {**WATCHED, "status": "alarm", "results": [result("watch_lock_waits", Verdict.FAIL, phase="watch")]}
    fix = Decision(choice="Fix forward", by="sam")
    forward = decide(gates_report="report.md", approval=APPROVED, applied=APPLIED, watched=alarm, after_watch=fix)
    back = decide(gates_report="report.md", approval=APPROVED, applied=APPLIED, watched=alarm,
                  after_watch=Decision(choice="Roll back"))
    assert forward.kind == "fixing_forward" and "sam" in forward.summary
    assert back.kind == "rolled_back"


def test_on_call_answer_after_a_watch_task_failed_decides_the_outcome():
    """The window's task failed (no verdict): on-call was asked all the same, and their answer ends it."""
    forward = decide(gates_report="report.md", approval=APPROVED, applied=APPLIED, watched=None,
                     after_watch=Decision(choice="Fix forward", by="sam"))
    back = decide(gates_report="report.md", approval=APPROVED, applied=APPLIED, watched=None,
                  after_watch=Decision(choice="Roll back", by="kim"))
    assert forward.kind == "fixing_forward" and forward.summary.startswith("the watch window did not complete and sam")
    assert back.kind == "rolled_back" and back.who == "kim" and "did not complete; kim chose to roll back" in back.summary


def test_completed_names_when_a_disabled_step_may_be_enabled():
    outcome = decide(gates_report="report.md", approval=APPROVED, applied=APPLIED, watched=WATCHED,
                     disabled_steps=["20250115170000_cleanup"])
    assert outcome.kind == "completed"
    assert "`20250115170000_cleanup`" in outcome.next_steps and "2026-12-01 06:00" in outcome.next_steps


def test_a_production_task_failing_before_any_step_leaves_production_untouched():
    outcome = decide(gates_report="report.md", approval=APPROVED, applied=None, watched=None,
                     started=[], stopped_at="take_backup")
    assert outcome.kind == "stopped" and not outcome.ok and outcome.already_told
    assert "production.take_backup failed before any migration was applied" in outcome.summary
    assert "production untouched" in outcome.summary and "rolled" not in outcome.summary


def test_without_the_history_a_failure_before_apply_still_touched_nothing():
    # apply_migrations runs only after create_restore_point finished: nothing can have applied
    outcome = decide(gates_report="report.md", approval=APPROVED, applied=None, watched=None,
                     started=None, stopped_at="create_restore_point")
    assert outcome.kind == "stopped" and "production untouched" in outcome.summary
    unknown = decide(gates_report="report.md", approval=APPROVED, applied=None, watched=None,
                     started=None, stopped_at="apply_migrations")
    assert unknown.kind == "rolled_back"


def test_who_chose_to_roll_back_is_named():
    on_failure = Decision(choice="Roll back", by="oncall.ana")
    after_step = decide(gates_report="report.md", approval=APPROVED, applied=None, watched=None,
                        on_failure=on_failure, started=["step_1"])
    assert after_step.kind == "rolled_back" and "oncall.ana chose to roll back" in after_step.summary
    alarm = {"status": "alarm", "results": [result("watch_metric", Verdict.FAIL, phase="watch")]}
    after_watch = decide(gates_report="report.md", approval=APPROVED, applied=APPLIED, watched=alarm,
                         after_watch=Decision(choice="Roll back"))
    assert "the decision timeout chose to roll back" in after_watch.summary
