"""The production phase: each change under gonogo's rollout lock, recorded in its history.

apply: the enabled steps in order, skipping what an earlier run applied from the same files,
refusing an edited one, each statement under the run's lock timeout with retries, each step
validated. rollback: what THIS run applied (or was applying), in reverse, then the schema
compared with the pre-batch schema. Every decision lands in the audit trail.
"""

from __future__ import annotations

import re

from gonogo import history, rollout_lock, snapshot
from gonogo.context import RunContext
from gonogo.execute import Log
from gonogo.gates.restore_point import create_restore_point
from gonogo.gates.session_guards import session_guards
from gonogo.results import GateResult, require_pass
from gonogo.schema import Schema, read_schema
from gonogo.steps import BatchRun, Ledger, apply_steps, undo

PHASE = "production"


def record(ctx: RunContext, event: str, *, username: str | None = None, detail: dict | None = None,
           step: str | None = None) -> None:
    """One event in production's audit trail (approve, reject, backup, restore_point, fix_forward)."""
    with ctx.session("production") as conn:
        history.ensure(conn)
        history.record(conn, ctx.run_id, ctx.batch.id, event, step=step, username=username, detail=detail)


def record_decision(ctx: RunContext, event: str, decision: dict) -> dict:
    """A human's answer (approve, reject, fix_forward) with who gave it, into the audit trail."""
    record(ctx, event, username=(decision.get("responded_by_user") or {}).get("name"), detail=decision)
    return decision


def check_guards(ctx: RunContext) -> list[dict]:
    """Production sessions carry the timeouts, and no other rollout holds this database."""
    results = require_pass([session_guards(ctx.production, ctx.guards, ctx.app)], "check_session_guards")
    with ctx.session("production") as conn:
        rollout_lock.check_free(conn, "check_session_guards")
    return results


def backup(ctx: RunContext, log: Log = print) -> tuple[list[dict], dict]:
    """pg_dump of production read back with pg_restore --list, and the pre-batch schema (with
    the objects of steps a crash or failure left half-done, which a rollback comparison skips)."""
    with ctx.session("production") as conn:
        pre_batch = {"schema": read_schema(conn, ctx.batch.history_objects).to_json(), "in_flux": sorted(history.in_flux(conn, ctx.batch))}
        tables = snapshot.table_names(conn)
    taken = snapshot.dump(ctx.production, ctx.folder / "backup", log=log, app=ctx.app,
                          lock_wait_timeout=ctx.guards.lock_timeout)
    results = require_pass([snapshot.verify_dump(taken, tables, phase=PHASE)], "take_backup")
    record(ctx, "backup", detail=taken.to_dict())
    return results, pre_batch


def restore_point_name(ctx: RunContext) -> str:
    """The batch's restore point name, made unique per run: recovery stops at the FIRST restore
    point of a name after the base backup, so a retried run must not reuse the name."""
    stamp = re.sub(r"[^0-9A-Za-z]+", "", ctx.run_id)[-20:]
    return f"{ctx.batch.restore_point[:40]}__{stamp}"


def restore_point(ctx: RunContext) -> list[dict]:
    """pg_create_restore_point, its WAL confirmed archived; name and LSN into the history."""
    with ctx.session("production") as conn:
        result = create_restore_point(conn, restore_point_name(ctx))
    record(ctx, "restore_point", detail=result.details[0])
    return require_pass([result], "create_restore_point")


def apply(ctx: RunContext, log: Log = print) -> BatchRun:
    with ctx.session("production") as conn, rollout_lock.exclusive(conn, "apply_migrations"):
        return apply_steps(conn, list(ctx.batch.enabled_steps), phase=PHASE, live_traffic=True, log=log,
                           ledger=Ledger(ctx.batch, ctx.run_id), policy=ctx.policy)


def in_flight(ctx: RunContext) -> list[str]:
    """The steps this run applied or was applying, from production's history."""
    with ctx.session("production") as conn:
        return history.applied_by(conn, ctx.batch.id, ctx.run_id)


def started(ctx: RunContext) -> list[str]:
    """The steps this run started on production, whatever became of them."""
    with ctx.session("production") as conn:
        return history.started_by(conn, ctx.batch.id, ctx.run_id)


def rollback(ctx: RunContext, pre_batch: dict, log: Log = print) -> list[GateResult]:
    """Undo what this run did, the step in flight first, then the rest in reverse.
    pre_batch: what backup() recorded."""
    steps = [ctx.batch.step(name) for name in in_flight(ctx)]
    with ctx.session("production") as conn, rollout_lock.exclusive(conn, "rollback_migrations"):
        history.record(conn, ctx.run_id, ctx.batch.id, "rollback", detail={"steps": [s.name for s in steps]})
        return undo(conn, steps, Schema.from_json(pre_batch["schema"]), phase=PHASE, log=log,
                    ledger=Ledger(ctx.batch, ctx.run_id), policy=ctx.policy,
                    in_flux=frozenset(pre_batch.get("in_flux", ())))
