"""What production's gonogo history says of this batch before the rollout: which steps are
applied already (a re-run resumes after them), and whether any applied file has been edited."""

from __future__ import annotations

import psycopg

from gonogo.apply import history
from gonogo.batch import Batch
from gonogo.results import GateResult, Verdict


def applied_history(conn: psycopg.Connection, batch: Batch, *, phase: str = "preflight") -> GateResult:
    planned = history.plan(batch, history.read(conn, batch.id))
    rows = [{"step": p.step.name, "recorded": p.recorded.status if p.recorded else "never run",
             "by_run": p.recorded.run_id if p.recorded else None,
             "will": "edited" if p.action == history.REFUSE else p.action} for p in planned]
    edited = [p.refusal for p in planned if p.action == history.REFUSE]
    applied = [p.step.name for p in planned if p.action == history.SKIP]
    pending = [p.step.name for p in planned if p.action == history.RUN]
    return GateResult(
        gate="applied_history", title="Applied migrations unchanged", phase=phase, subject="production",
        verdict=Verdict.FAIL if edited else Verdict.PASS,
        value=f"{len(applied)} of {len(rows)} steps applied before, {len(pending)} to apply",
        threshold="no applied step's file edited since",
        message=(" ".join(edited) if edited else
                 (f"resumes at {pending[0]}" if applied and pending else
                  "every step is applied already: nothing to do" if not pending else
                  "no step of this batch has run on production yet")),
        hint="" if not edited else "restore the original file; put the change in a new migration",
        details=rows)
