"""A step the manifest disables (a cleanup) enabled for one run: only a week after a clean watch
window of the rest of its batch."""

from __future__ import annotations

import psycopg

from gonogo.apply import history
from gonogo.batch import Batch
from gonogo.results import GateResult, Verdict


def enabled_steps(conn: psycopg.Connection, batch: Batch, *, phase: str = "preflight") -> list[GateResult]:
    """A manifest-disabled step enabled for this run may run only after a clean watch window of
    this batch ended at least a week ago (seed, Next Steps). Absent when nothing is enabled."""
    from datetime import datetime, timezone

    from gonogo.watching.watch import cleanup_from

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
