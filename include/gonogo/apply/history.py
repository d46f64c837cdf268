"""gonogo's history in each database it changes: the state of every step of every batch
(with the sha256 of the file it ran), an append-only events table as the audit trail, and the
progress of batched backfills. Like Flyway's or Sqitch's tables, in a schema of its own.

What it decides: a step already applied from the same file is skipped; one applied from a
file that has changed since is refused (a migration that ran is never edited: write a new
one); a step left 'running' or 'failed' by a crash is run again (steps are idempotent).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import psycopg

from gonogo.batch import Batch, Step
from gonogo.results import GateResult, Verdict
from gonogo.postgres.sqlfile import query, split_statements

SKIP, RUN, REFUSE = "skip", "run", "refuse"


@dataclass(frozen=True)
class Applied:
    step: str
    sha256: str
    status: str
    run_id: str
    finished_at: str | None


def ensure(conn: psycopg.Connection) -> None:
    """Create the gonogo schema and its tables if missing (idempotent), and let the audit trail
    take every event this version records."""
    for statement in split_statements(query("history.sql", "create")):
        conn.execute(statement)
    wanted = query("history.sql", "set_events_check")
    current = conn.execute(query("history.sql", "events_check")).fetchone()
    if current is None or set(_QUOTED.findall(wanted)) - set(_QUOTED.findall(current[0])):
        conn.execute(wanted)


_QUOTED = re.compile(r"'(\w+)'")


def read(conn: psycopg.Connection, batch_id: str) -> dict[str, Applied]:
    """{step: its recorded state}; empty where gonogo never ran."""
    if not conn.execute(query("history.sql", "exists")).fetchone()[0]:
        return {}
    rows = conn.execute(query("history.sql", "steps"), {"batch": batch_id}).fetchall()
    return {step: Applied(step, sha, status, run_id, str(finished) if finished else None)
            for step, sha, status, run_id, _started, finished in rows}


@dataclass(frozen=True)
class Planned:
    """What the history says of one step: RUN it, SKIP it (applied before from this very file) or
    REFUSE it (applied from a file edited since: `refusal` says so); `in_flux` when a crash or a
    failure left it 'running' or 'failed' — its objects may be partly there, and it runs again."""

    step: Step
    action: str
    recorded: Applied | None
    refusal: str = ""

    @property
    def in_flux(self) -> bool:
        return self.recorded is not None and self.recorded.status in ("running", "failed")


def plan_step(step: Step, recorded: Applied | None) -> Planned:
    """SKIP a step applied from this very file, REFUSE one whose file changed since, RUN the rest
    (never run, rolled back, or left running or failed: steps are idempotent)."""
    if recorded is None or recorded.status in ("running", "failed", "rolled_back"):
        return Planned(step, RUN, recorded)
    if recorded.sha256 != step.forward.sha256:
        return Planned(step, REFUSE, recorded, refusal=(
            f"{step.forward.path.name} was applied by run {recorded.run_id} ({recorded.finished_at}) from a "
            f"file with sha256 {recorded.sha256}, but the file now has sha256 {step.forward.sha256}: it was "
            f"edited after it ran. A migration that ran is never edited: restore the original file and put "
            f"the change in a new migration."))
    return Planned(step, SKIP, recorded)


def plan(steps: list[Step] | Batch, recorded: dict[str, Applied]) -> list[Planned]:
    """The one plan every phase follows (the history and drift gates, the dry run, production's
    apply): each step (a batch: its enabled steps) with what the history says to do with it."""
    listed = steps.enabled_steps if isinstance(steps, Batch) else steps
    return [plan_step(step, recorded.get(step.name)) for step in listed]


def split(batch: Batch, recorded: dict[str, Applied]) -> tuple[list[Step], list[Step]]:
    """The enabled steps as (applied before from this very file, to apply) — an edited one is
    to apply: applying it is refused, and the history gate says why."""
    planned = plan(batch, recorded)
    return [p.step for p in planned if p.action == SKIP], [p.step for p in planned if p.action != SKIP]


def applied_before(step: Step, done: Applied, phase: str) -> GateResult:
    """A step skipped because it was applied from this very file, with when and by which run."""
    return GateResult(
        gate="step_skipped", title="Migration applied before", phase=phase, subject=step.name,
        verdict=Verdict.PASS, value=f"already applied by run {done.run_id}", threshold="every statement succeeds",
        message=f"skipped: applied at {done.finished_at} from this very file (sha256 {done.sha256[:12]}…)")


def start(conn: psycopg.Connection, batch: Batch, step: Step, run_id: str) -> None:
    """A new attempt of the step (its own row in gonogo.attempts, pointing at the crashed or
    failed attempt it resumes), the step's state 'running', and an 'apply' event."""
    keys = {"batch": batch.id, "step": step.name, "sha256": step.forward.sha256, "run_id": run_id}
    attempt, resumes = conn.execute(query("history.sql", "start_attempt"), keys).fetchone()
    conn.execute(query("history.sql", "start_step"), keys)
    record(conn, run_id, batch.id, "apply", step=step.name,
           detail={"sha256": step.forward.sha256, "attempt": attempt, "resumes": resumes})


def mark(conn: psycopg.Connection, batch: Batch, step: Step, status: str) -> None:
    """The step's status alone, written inside the transaction of its file (no event: finish
    records one once the step is validated)."""
    keys = {"batch": batch.id, "step": step.name, "status": status}
    conn.execute(query("history.sql", "mark_step"), keys)
    conn.execute(query("history.sql", "end_attempt"), {**keys, "final": False, "detail": "{}"})


def finish(conn: psycopg.Connection, batch: Batch, step: Step, run_id: str, status: str,
           detail: dict | None = None) -> None:
    keys = {"batch": batch.id, "step": step.name, "status": status, "detail": json.dumps(detail or {}, default=str)}
    conn.execute(query("history.sql", "finish_step"), keys)
    conn.execute(query("history.sql", "end_attempt"), {**keys, "final": True})
    event = {"applied": "applied", "failed": "fail", "rolled_back": "rolled_back"}[status]
    record(conn, run_id, batch.id, event, step=step.name, detail=detail)


def attempts(conn: psycopg.Connection, batch_id: str) -> list[dict]:
    """Every attempt of every step of the batch, oldest first."""
    if not conn.execute(query("history.sql", "exists")).fetchone()[0]:
        return []
    columns = ("id", "step", "run_id", "sha256", "status", "started_at", "finished_at", "resumes", "detail")
    return [dict(zip(columns, row)) for row in conn.execute(query("history.sql", "attempts"), {"batch": batch_id})]


def record(conn: psycopg.Connection, run_id: str, batch_id: str, event: str, *, step: str | None = None,
           username: str | None = None, detail: dict | None = None) -> None:
    """Append one event to the audit trail."""
    conn.execute(query("history.sql", "record_event"), {
        "run_id": run_id, "batch": batch_id, "step": step, "event": event, "username": username,
        "detail": json.dumps(detail or {}, default=str)})


def events(conn: psycopg.Connection, batch_id: str) -> list[dict]:
    if not conn.execute(query("history.sql", "events_exist")).fetchone()[0]:
        return []
    columns = ("at", "run_id", "batch", "step", "event", "username", "detail")
    return [dict(zip(columns, row)) for row in conn.execute(query("history.sql", "events"), {"batch": batch_id})]


def run_event(conn: psycopg.Connection, batch_id: str, run_id: str, event: str) -> dict | None:
    """The detail of a run's first event of that kind, or None."""
    if not conn.execute(query("history.sql", "events_exist")).fetchone()[0]:
        return None
    row = conn.execute(query("history.sql", "run_event"), {"batch": batch_id, "run_id": run_id, "event": event}).fetchone()
    return row[0] if row else None


def applied_by(conn: psycopg.Connection, batch_id: str, run_id: str) -> list[str]:
    """The steps this run applied, or was applying or failed in, in the order it started them:
    what a rollback of this run must undo (and nothing an earlier run applied)."""
    if not conn.execute(query("history.sql", "exists")).fetchone()[0]:
        return []
    return [row[0] for row in conn.execute(query("history.sql", "applied_by"), {"batch": batch_id, "run_id": run_id})]


def started_by(conn: psycopg.Connection, batch_id: str, run_id: str) -> list[str]:
    """The steps this run started, rolled back since or not: none means it changed nothing."""
    if not conn.execute(query("history.sql", "exists")).fetchone()[0]:
        return []
    return [row[0] for row in conn.execute(query("history.sql", "started_by"), {"batch": batch_id, "run_id": run_id})]


def in_flux(conn: psycopg.Connection, batch: Batch) -> frozenset[str]:
    """Names of the objects created by steps a crash or a failure left 'running' or 'failed':
    they may be partly there. Schema comparisons leave them out; the step is run again."""
    return frozenset(o.name for p in plan(batch, read(conn, batch.id)) if p.in_flux for o in p.step.creates())
