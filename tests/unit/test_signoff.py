"""Who signs a rollout off: four eyes, several distinct approvers, groups, and what the report's
Decision Gate then says."""

from __future__ import annotations

import pytest

from gonogo.decision import Answer, Decision
from gonogo.reporting.report import evaluate
from gonogo.results import Verdict
from gonogo.reporting.signoff import SignoffError, eligible, missing, not_counted, resolve, results

TEAM = {"dba": ["alice", "bob"], "leads": ["bob", "carol"]}


def test_groups_are_replaced_by_their_members_once_each():
    assert resolve(["@dba", "dave", "@leads", "alice"], TEAM) == ["alice", "bob", "dave", "carol"]
    assert resolve(["dave"], None) == ["dave"]  # no group named: no groups needed
    with pytest.raises(SignoffError, match=r"@ops has no members: define it in the Airflow Variable gonogo_groups"):
        resolve(["@ops"], TEAM)


def test_the_triggerer_is_never_among_who_may_approve():
    assert eligible(["alice", "bob"], "bob", 1) == ["alice"]
    assert eligible([], "bob", 2) == []  # none named: anyone Airflow allows; counted after the click
    with pytest.raises(SignoffError, match="2 distinct approvers needed besides bob.*leave alice"):
        eligible(["alice", "bob"], "bob", 2)
    with pytest.raises(SignoffError, match="from 1 to 5"):
        eligible(["alice"], "bob", 0)


def test_an_approval_counts_once_per_person_and_never_the_triggerers():
    decision = Decision(triggered_by="bob", required=2, approvals=(Answer("alice", "2026-12-06T10:00:00"),))
    assert "bob triggered this run" in not_counted(decision, "bob")
    assert "alice has approved already" in not_counted(decision, "alice")
    assert not_counted(decision, "carol") is None
    assert missing(decision) == 1


def _gate_row(decision) -> dict:
    return next(row for row in evaluate(results(decision)) if row["condition"] == "Team reviewed and approved")


def test_the_decision_gate_names_who_approved_and_when():
    decision = Decision(choice="Approve", by="carol", triggered_by="bob", required=2,
                        approvals=(Answer("alice", "2026-12-06T10:00:12+00:00"),
                                   Answer("carol", "2026-12-06T10:05:40+00:00")),
                        not_counted=(Answer("bob", "2026-12-06T09:59:00+00:00", "bob triggered this run"),))
    assert Decision.from_dict(decision.to_dict()) == decision  # as it travels through XCom
    [result] = results(decision)
    assert result.verdict is Verdict.PASS
    row = _gate_row(decision)
    assert row["verdict"] == "PASS"
    assert row["evidence"] == "approved by alice at 2026-12-06 10:00 UTC, carol at 2026-12-06 10:05 UTC"
    assert "triggered by bob" in result.message and "not counted: bob" in result.message


def test_a_rejection_or_a_timeout_is_no_sign_off():
    rejected = Decision(choice="Reject", by="dana", at="2026-12-06T11:00:00+00:00", required=2,
                        approvals=(Answer("alice", "2026-12-06T10:00:00+00:00"),))
    row = _gate_row(rejected)
    assert row["verdict"] == "FAIL"
    assert row["evidence"] == ("rejected by dana at 2026-12-06 11:00 UTC; approved before that by alice at "
                               "2026-12-06 10:00 UTC")
    timed_out = Decision(choice="Reject")
    assert "timed out" in _gate_row(timed_out)["evidence"]
    assert _gate_row(None)["verdict"] is None  # before anyone answered: the approver's own decision
