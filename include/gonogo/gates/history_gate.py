"""What production's gonogo history says of this batch before the rollout: which steps are
applied already (a re-run resumes after them), and whether any applied file has been edited."""

from __future__ import annotations

import psycopg

from gonogo import history
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


def enabled_steps(conn: psycopg.Connection, batch: Batch, *, phase: str = "preflight") -> list[GateResult]:
    """A manifest-disabled step enabled for this run may run only after a clean watch window of
    this batch ended at least a week ago (seed, Next Steps). Absent when nothing is enabled."""
    from datetime import datetime, timezone

    from gonogo.watch import cleanup_from

    if not batch.explicitly_enabled:
        return []
    passed = [e for e in history.events(conn, batch.id) if e["event"] == "watch_passed"]
    names = ", ".join(s.name for s in batch.explicitly_enabled)
    if not passed:
        verdict, value, message = Verdict.FAIL, "no clean watch window recorded", (
            f"{names} is disabled until production has run a week on the rest of the batch, and no watch "
            f"window of this batch has passed on this database")
    else:
        ended = datetime.fromisoformat(passed[-1]["detail"]["ended_at"])
        allowed = cleanup_from(ended)
        ok = datetime.now(timezone.utc) >= allowed
        verdict = Verdict.PASS if ok else Verdict.FAIL
        value = f"last clean watch window ended {ended:%Y-%m-%d %H:%M} UTC"
        message = (f"{names} may run: a week of stable metrics since {ended:%Y-%m-%d}" if ok else
                   f"{names} may be enabled from {allowed:%Y-%m-%d %H:%M} UTC, a week after the last clean window")
    return [GateResult(
        gate="enabled_steps", title="Disabled steps enabled only after a stable week", phase=phase,
        subject=names, verdict=verdict, value=value, threshold="a clean watch window at least 7 days old",
        message=message, hint="" if verdict is Verdict.PASS else "wait, or run without enable_steps",
        details=[{"step": s.name, "disabled_because": s.disabled_reason} for s in batch.explicitly_enabled])]
