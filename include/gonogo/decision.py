"""A person's answer to a question of the rollout — the approval, on-call's roll back or fix
forward — as the library reads it: what was chosen, by whom, when; for the approval also the
approvals that counted and those that did not, against the number required.

The adapter makes one from Airflow's HITL answer (plugins/gonogo_airflow/approval.py) and keeps
it in XCom as to_dict(); nothing in the library reads Airflow's shape (chosen_options,
responded_by_user)."""

from __future__ import annotations

from dataclasses import dataclass

APPROVE, REJECT = "Approve", "Reject"
ROLL_BACK, FIX_FORWARD = "Roll back", "Fix forward"


@dataclass(frozen=True)
class Answer:
    """One person's answer that counted toward the sign-off, or did not (`why`)."""

    user: str | None
    at: str | None = None
    why: str = ""

    def to_dict(self) -> dict:
        return {"user": self.user, "at": self.at, **({"why": self.why} if self.why else {})}

    @classmethod
    def from_dict(cls, data: dict) -> Answer:
        return cls(data.get("user"), data.get("at"), data.get("why") or "")


@dataclass(frozen=True)
class Decision:
    choice: str | None = None      # the option chosen; None: never answered
    by: str | None = None          # the login that answered; None: the timeout did
    at: str | None = None          # ISO time of the answer
    triggered_by: str | None = None
    required: int = 1              # approvals needed from different people
    approvals: tuple[Answer, ...] = ()
    not_counted: tuple[Answer, ...] = ()

    @property
    def approved(self) -> bool:
        return self.choice == APPROVE

    def who(self, default: str = "the decision timeout") -> str:
        return self.by or default

    @property
    def approvers(self) -> list[str]:
        """Each approval counted, in order."""
        return [a.user for a in self.approvals if a.user]

    def to_dict(self) -> dict:
        return {"choice": self.choice, "by": self.by, "at": self.at, "triggered_by": self.triggered_by,
                "required": self.required, "approvals": [a.to_dict() for a in self.approvals],
                "not_counted": [a.to_dict() for a in self.not_counted]}

    @classmethod
    def from_dict(cls, data: dict | None) -> Decision | None:
        """What to_dict() wrote (XCom); None for no answer kept."""
        if not data:
            return None
        return cls(choice=data.get("choice"), by=data.get("by"), at=data.get("at"),
                   triggered_by=data.get("triggered_by"), required=int(data.get("required") or 1),
                   approvals=tuple(Answer.from_dict(a) for a in data.get("approvals") or ()),
                   not_counted=tuple(Answer.from_dict(a) for a in data.get("not_counted") or ()))
