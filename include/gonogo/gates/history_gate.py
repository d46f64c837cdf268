"""What production's gonogo history says of this batch before the rollout: which steps are
applied already (a re-run resumes after them), and whether any applied file has been edited."""

from __future__ import annotations

import psycopg

from gonogo import history
from gonogo.batch import Batch
from gonogo.errors import StepFailed
from gonogo.results import GateResult, Verdict


def applied_history(conn: psycopg.Connection, batch: Batch, *, phase: str = "preflight") -> GateResult:
    recorded = history.read(conn, batch.id)
    rows, edited = [], []
    for step in batch.enabled_steps:
        done = recorded.get(step.name)
        try:
            decision = history.decide(step, done)
        except StepFailed as exc:
            edited.append(str(exc))
            decision = "edited"
        rows.append({"step": step.name, "recorded": done.status if done else "never run",
                     "by_run": done.run_id if done else None, "will": decision})
    applied = [r["step"] for r in rows if r["will"] == history.SKIP]
    pending = [r["step"] for r in rows if r["will"] == history.RUN]
    return GateResult(
        gate="history", title="Applied migrations unchanged", phase=phase, subject="production",
        verdict=Verdict.FAIL if edited else Verdict.PASS,
        value=f"{len(applied)} of {len(rows)} steps applied before, {len(pending)} to apply",
        threshold="no applied step's file edited since",
        message=(" ".join(edited) if edited else
                 (f"resumes at {pending[0]}" if applied and pending else
                  "every step is applied already: nothing to do" if not pending else
                  "no step of this batch has run on production yet")),
        hint="" if not edited else "restore the original file; put the change in a new migration",
        details=rows)
