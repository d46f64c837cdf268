"""The one shape every check returns. The report, the approval text and Slack messages
are all rendered from lists of these; a new check is a function returning GateResults.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Verdict(str, Enum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"

    @property
    def rank(self) -> int:
        return {"PASS": 0, "WARN": 1, "FAIL": 2}[self.value]


@dataclass(frozen=True)
class GateResult:
    gate: str        # stable id, e.g. "orphan_integrity"
    title: str       # what a DBA calls it, e.g. "Orphans = 0"
    verdict: Verdict
    value: str       # what was measured
    threshold: str   # what it had to be
    message: str     # one sentence: what the measurement means
    hint: str = ""   # what to do about a WARN or FAIL
    phase: str = ""  # preflight | dry_run | production | watch
    subject: str = ""  # the step or target the result is about, if any
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.verdict is Verdict.FAIL

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["verdict"] = self.verdict.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
        return cls(**{**data, "verdict": Verdict(data["verdict"])})


def plural(count: int, word: str) -> str:
    """A count as a gate's value reads it: "1 statement", "3 statements"."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def judge(ok: bool, warn: bool = False) -> Verdict:
    return Verdict.PASS if ok else (Verdict.WARN if warn else Verdict.FAIL)


def overall(results: list[GateResult]) -> Verdict:
    """The worst verdict; with no results at all there is nothing to approve."""
    if not results:
        return Verdict.FAIL
    return max((r.verdict for r in results), key=lambda v: v.rank)


def failures(results: list[GateResult]) -> list[GateResult]:
    return [r for r in results if r.failed]


def to_dicts(results: list[GateResult]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in results]


def from_dicts(items) -> list[GateResult]:
    """Results back from XCom: accepts a list of dicts, or a list of such lists."""
    out: list[GateResult] = []
    for item in items or ():
        if isinstance(item, list):
            out.extend(from_dicts(item))
        elif item:
            out.append(GateResult.from_dict(item))
    return out


def applied_steps(items) -> list[str]:
    """Names of the steps a list of results reports as applied, in order."""
    return list(dict.fromkeys(r.subject for r in from_dicts(items) if r.gate == "step_applied" and not r.failed))


def require_pass(results: list[GateResult], step: str) -> list[dict]:
    """Results of a production prerequisite as dicts; any FAIL stops the rollout before a change."""
    from gonogo.errors import StepFailed

    if failed := failures(results):
        raise StepFailed("; ".join(f"{r.title}: {r.message}" for r in failed), step=step, results=results,
                         before_changes=True)
    return to_dicts(results)


def gathered(evidence: dict[str, list | None]) -> list[GateResult]:
    """Every check's results ({task id: its results as dicts}), and a FAIL for each whose
    evidence is missing (None: it did not finish)."""
    return did_not_finish([task for task, found in evidence.items() if found is None]) + from_dicts(
        [found for found in evidence.values() if found is not None])


def did_not_finish(task_ids: list[str]) -> list[GateResult]:
    """A FAIL for each task whose evidence is missing because it failed (or a task it needs did):
    the Go/No-Go report is written and No-Go is said even when a task crashed."""
    return [GateResult(
        gate="task_finished", title="Every check finished", phase=task_id.split(".")[0], subject=task_id,
        verdict=Verdict.FAIL, value="did not finish", threshold="finished with its evidence",
        message=f"{task_id} did not finish (it failed, or a task it needs did): what it measures is missing "
                f"from this report, so this run cannot be approved",
        hint="open the task's log in Airflow (the 🚨 message names its error), fix the cause, trigger again")
            for task_id in task_ids]
