"""Who signs a rollout off (the seed's Decision Gate: "Team reviewed and approved", "Approved By /
Date"): four eyes, a number of distinct approvers, groups resolved to their members, and the
sign-off as evidence for the report.

What it reads is a gonogo.decision.Decision: the last answer (choice, by, at), who triggered
the run, and the answers that counted (approvals) or did not (not_counted) against the number
required.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gonogo.decision import APPROVE, Decision
from gonogo.results import GateResult, Verdict

GROUP = "@"          # "@dba" in approvers: every member of the group dba
GROUPS_VARIABLE = "gonogo_groups"  # the Airflow Variable that lists them: {"dba": ["alice", "bob"]}
MAX_REQUIRED = 5
PHASE, GATE = "decision", "sign_off"


class SignoffError(ValueError):
    """Approvers that cannot sign this run off; production is not touched."""


def resolve(names: Iterable[str], groups: Mapping[str, Iterable[str]] | None) -> list[str]:
    """The logins named, each group ("@name") replaced by its members, first mention first."""
    users: list[str] = []
    for name in names:
        if not name.startswith(GROUP):
            users.append(name)
            continue
        members = list((groups or {}).get(name[len(GROUP):]) or ())
        if not members:
            raise SignoffError(
                f"approver group {name} has no members: define it in the Airflow Variable {GROUPS_VARIABLE} "
                f"(Admin > Variables), e.g. {{\"{name[len(GROUP):]}\": [\"alice\", \"bob\"]}}, or name the "
                f"logins themselves. Production was not touched.")
        users.extend(members)
    return list(dict.fromkeys(users))


def eligible(approvers: list[str], triggered_by: str | None, required: int) -> list[str]:
    """Who may approve: the approvers but the person who triggered the run. None named: anyone
    Airflow's roles allow (the triggerer's answer is then not counted after the click)."""
    if not 1 <= required <= MAX_REQUIRED:
        raise SignoffError(f"approvals_required is {required}: from 1 to {MAX_REQUIRED} distinct approvers")
    allowed = [name for name in approvers if name != triggered_by]
    if approvers and len(allowed) < required:
        left = ", ".join(allowed) or "nobody"
        raise SignoffError(
            f"four eyes: {required} distinct approvers needed besides {triggered_by or 'the triggerer'}, who "
            f"triggered this run, and the approvers named leave {left}; name more (the trigger form's "
            f"`approvers`, or the manifest's) or lower approvals_required, and trigger again. Production was "
            f"not touched.")
    return allowed


def not_counted(decision: Decision, user: str | None) -> str | None:
    """Why an Approve by `user` does not count toward the sign-off (None: it counts)."""
    if not user:
        return "the answer carries no login"
    if user == decision.triggered_by:
        return f"{user} triggered this run: four eyes — another person must approve it"
    if user in decision.approvers:
        return f"{user} has approved already: each approval must come from a different person"
    return None


def missing(decision: Decision) -> int:
    return max(0, decision.required - len(decision.approvals))


def describe(approvals) -> str:
    return ", ".join(f"{a.user} at {_minute(a.at)}" for a in approvals)


def _minute(at: str | None) -> str:
    return f"{at[:16].replace('T', ' ')} UTC" if at else "an unknown time"


def ask_line(approvers: list[str], triggered_by: str | None, required: int) -> str:
    """The line the approval page shows above the evidence: who may answer, and how many."""
    who = ", ".join(approvers) if approvers else "anyone Airflow's roles allow"
    need = "one approval" if required == 1 else f"{required} approvals from different people"
    starter = f" but {triggered_by}, who triggered it" if triggered_by else ""
    return f"**Sign-off:** {need}; who may approve: {who}{starter} (four eyes)."


def buttons_line(deadline) -> str:
    """What each button does (Airflow's page labels them Approve and Reject, and styles none as
    the default when the task has none)."""
    unanswered = (f" Unanswered by {deadline:%Y-%m-%d %H:%M} UTC, the run is rejected." if deadline else "")
    return ("**Approve** starts the production phase described below; **Reject** "
            f"changes nothing.{unanswered}")


def results(decision: Decision | None) -> list[GateResult]:
    """The sign-off as evidence for the Decision Gate's "Team reviewed and approved"."""
    if not decision or not decision.choice:
        return []
    approvals, starter = decision.approvals, decision.triggered_by
    notes = [f"triggered by {starter}"] if starter else []
    notes += [f"not counted: {r.user} at {_minute(r.at)} ({r.why})" for r in decision.not_counted]
    base = dict(gate=GATE, title="Team reviewed and approved", phase=PHASE,
                threshold=f"{decision.required} approval(s) by people other than the triggerer",
                message="; ".join(notes))
    if decision.choice == APPROVE and not missing(decision):
        return [GateResult(verdict=Verdict.PASS, value=f"approved by {describe(approvals)}", **base)]
    value = (f"rejected by {decision.by} at {_minute(decision.at)}" if decision.by
             else "not approved in time: the approval timed out (Reject)")
    if approvals:
        value += f"; approved before that by {describe(approvals)}"
    return [GateResult(verdict=Verdict.FAIL, value=value, **base)]
