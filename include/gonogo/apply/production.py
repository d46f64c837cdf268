"""The production phase: each change under gonogo's rollout lock, recorded in its history.

apply: the enabled steps in order, skipping what an earlier run applied from the same files,
refusing an edited one, each statement under the run's lock timeout with retries, each step
validated. rollback: what THIS run applied (or was applying), in reverse, then the schema
compared with the pre-batch schema. Every decision lands in the audit trail.
"""

from __future__ import annotations

import re

from gonogo.apply import history, rollout_lock
from gonogo.clone import snapshot
from gonogo.context import RunContext
from gonogo.postgres.execute import Log
from gonogo.gates.restore_point import create_restore_point
from gonogo.gates.session_guards import session_guards
from gonogo.results import GateResult, Verdict, require_pass, to_dicts
from gonogo.postgres.schema import Schema, compare, read_schema
from gonogo.decision import Decision
from gonogo.apply.steps import BatchRun, Ledger, apply_steps, rollback_steps, validate_steps

PHASE = "production"
ORPHANS = "orphan_sessions"


def record(ctx: RunContext, event: str, *, username: str | None = None, detail: dict | None = None,
           step: str | None = None) -> None:
    """One event in production's audit trail (approve, reject, backup, restore_point, fix_forward)."""
    with ctx.session("production") as conn:
        history.ensure(conn)
        history.record(conn, ctx.run_id, ctx.batch.id, event, step=step, username=username, detail=detail)


def window_opened(ctx: RunContext) -> dict | None:
    """The watch window an earlier try of this run's watch task opened ({"started", "deadline",
    "hours"}), or None: a watch task that was interrupted resumes that window, to the same
    absolute deadline, instead of opening a new one."""
    with ctx.session("production") as conn:
        opened = history.run_event(conn, ctx.batch.id, ctx.run_id, "watch_started")
    return opened if opened and opened.get("started") else None


def record_decision(ctx: RunContext, event: str, decision: Decision | None) -> dict:
    """A human's answer (approve, reject, fix_forward) with who gave it, into the audit trail: an
    approval by several people is one event each, and an Approve that did not count is kept too."""
    decision = decision or Decision()
    common = {"triggered_by": decision.triggered_by, "required": decision.required}
    for refused in decision.not_counted:
        record(ctx, "approval_not_counted", username=refused.user, detail={**common, **refused.to_dict()})
    if event == "approve" and decision.approvals:
        for approval in decision.approvals:
            record(ctx, event, username=approval.user, detail={**common, **approval.to_dict()})
    else:
        record(ctx, event, username=decision.by, detail=decision.to_dict())
    return decision.to_dict()


def check_guards(ctx: RunContext, log: Log = print) -> list[dict]:
    """Production sessions carry the timeouts, and no other rollout holds this database."""
    results = require_pass([session_guards(ctx.production, ctx.guards, ctx.app)], "check_session_guards")
    with ctx.session("production") as conn:
        orphans = end_orphans(ctx, conn, log)
        rollout_lock.check_free(conn, "check_session_guards", ctx.run_id)
    return results + to_dicts(orphans)


def end_orphans(ctx: RunContext, conn, log: Log) -> list[GateResult]:
    """Sessions a dead task of this run left on production, ended (gonogo.apply.rollout_lock), each
    in the audit trail; one WARN result saying so, or none."""
    ended = rollout_lock.end_orphans(conn, ctx.run_id, log=log)
    if not ended:
        return []
    history.ensure(conn)
    for session in ended:
        history.record(conn, ctx.run_id, ctx.batch.id, "orphan_ended", detail=session)
    return [GateResult(
        gate=ORPHANS, title="No session left behind by a dead task", phase=PHASE, subject=ctx.app.split("/")[-1],
        verdict=Verdict.WARN, value=f"{len(ended)} session{'s' if len(ended) > 1 else ''} ended",
        threshold="no session of this run but the task's own",
        message="a task of this run died and left its session running on production, holding the rollout lock: "
                + "; ".join(f"{s['session']} — {s['ended']}" for s in ended),
        hint="what it was running did not finish: the history says which step was in flight; read the task's "
             "log (a worker killed, out of memory, a lost node)", details=ended)]


def take_lock(ctx: RunContext, log: Log = print) -> dict:
    """The database is this run's until release_lock, across its tasks (an Airflow setup)."""
    with ctx.session("production") as conn:
        history.ensure(conn)
        if rollout_lock.take_lease(conn, ctx.run_id, ctx.batch.id):
            history.record(conn, ctx.run_id, ctx.batch.id, "lock_taken")
        held = rollout_lock.lease(conn)
    log(f"rollout lock: this run holds the database since {held['taken_at']:%Y-%m-%d %H:%M:%S %Z}")
    return {"run_id": held["run_id"], "taken_at": held["taken_at"].isoformat()}


def release_lock(ctx: RunContext, log: Log = print) -> bool:
    """The database given back (the teardown of take_lock, however the run went)."""
    with ctx.session("production") as conn:
        released = rollout_lock.release_lease(conn, ctx.run_id)
        if released:
            history.record(conn, ctx.run_id, ctx.batch.id, "lock_released")
    log("rollout lock released" if released else "this run did not hold the rollout lock: nothing to release")
    return released


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


def plan(ctx: RunContext) -> tuple[list[str], list[GateResult]]:
    """The enabled steps production has not applied from these very files (gonogo's history
    there), and a result for each it has — and, from a migration tool, for what the tool's own
    history says ran. No step left: the run has nothing to apply."""
    batch = ctx.batch
    with ctx.session("production") as conn:
        recorded = history.read(conn, batch.id)
    applied, pending = history.split(batch, recorded)
    done = [history.applied_before(s, recorded[s.name], "preflight") for s in applied]
    if batch.applied_before:
        names = [m.name for m in batch.applied_before]
        done.append(GateResult(
            gate="step_skipped", title="Migrations applied before", phase="preflight", verdict=Verdict.PASS,
            value=f"{len(names)} in {batch.tool.name}'s history", threshold="not applied again",
            message=f"{batch.tool.name}'s history on production records them as applied: "
                    + ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")))
    return [s.name for s in pending], done


def apply(ctx: RunContext, log: Log = print, *, step: str | None = None, validate: bool = True) -> BatchRun:
    """The enabled steps in order, under the rollout lock. step: that one alone (a migration's
    own node of a batch's DAG), the same way; one not enabled for this run is left alone.
    validate=False: its validation is validate()'s, given the run's `counted`."""
    steps = list(ctx.batch.enabled_steps)
    if step is not None:
        steps = [s for s in steps if s.name == step]
        if not steps:
            ctx.batch.step(step)  # a name the batch does not have raises here
            log(f"== {PHASE}: step {step} is disabled in this run: not applied")
            return BatchRun(results=[_left_alone(ctx.batch.step(step).name, "disabled in this run: not applied",
                                                 "a disabled step runs only when the run enables it")])
    with ctx.session("production") as conn:
        orphans = end_orphans(ctx, conn, log)
        with rollout_lock.exclusive(conn, "apply_migrations", ctx.run_id):
            run = apply_steps(conn, steps, phase=PHASE, live_traffic=True, log=log,
                              ledger=Ledger(ctx.batch, ctx.run_id), policy=ctx.policy, validate=validate)
    run.results[:0] = orphans
    return run


def validate(ctx: RunContext, step: str, counted: dict[str, dict[str, int]], log: Log = print) -> BatchRun:
    """A migration's validation node: what apply(validate=False) applied of `step` checked (its
    objects valid, its verify file, its tables' rows); a failure marks it failed in the history."""
    with ctx.session("production") as conn:
        return validate_steps(conn, [ctx.batch.step(step)], counted, phase=PHASE, live_traffic=True, log=log,
                              ledger=Ledger(ctx.batch, ctx.run_id))


def _left_alone(step: str, value: str, message: str) -> GateResult:
    return GateResult(gate="step_left_alone", title="Left alone", phase=PHASE, subject=step, verdict=Verdict.PASS,
                      value=value, threshold="only what this run applies, and undoes", message=message)


def in_flight(ctx: RunContext) -> list[str]:
    """The steps this run applied or was applying, from production's history."""
    with ctx.session("production") as conn:
        return history.applied_by(conn, ctx.batch.id, ctx.run_id)


def started(ctx: RunContext) -> list[str]:
    """The steps this run started on production, whatever became of them."""
    with ctx.session("production") as conn:
        return history.started_by(conn, ctx.batch.id, ctx.run_id)


def rollback(ctx: RunContext, pre_batch: dict, log: Log = print, decision: Decision | None = None, *,
             step: str | None = None) -> list[GateResult]:
    """Undo what this run did, the step in flight first, then the rest in reverse, and prove the
    schema equals the pre-batch schema. pre_batch: what backup() recorded; decision: on-call's
    answer that chose it (who, when), kept in the rollback event. step: that one alone, if this
    run applied (or was applying) it — a migration's own rollback node; the nodes run in reverse
    and the last one proves the schema (restored)."""
    with ctx.session("production") as conn:
        orphans = end_orphans(ctx, conn, log)  # first: the step in flight may have been theirs
        names = history.applied_by(conn, ctx.batch.id, ctx.run_id)
        if step is not None:
            if step not in names:
                log(f"== {PHASE}: step {step} was not applied by this run: nothing to undo")
                return orphans + [_left_alone(ctx.batch.step(step).name, "not applied by this run: nothing to undo",
                                              "this run did not start this step; what an earlier run applied stays")]
            names = [step]
        steps = [ctx.batch.step(name) for name in names]
        with rollout_lock.exclusive(conn, "rollback_migrations", ctx.run_id):
            history.record(conn, ctx.run_id, ctx.batch.id, "rollback",
                           username=decision.by if decision else None,
                           detail={"steps": [s.name for s in steps], "decided_at": decision.at if decision else None})
            run = rollback_steps(conn, steps, phase=PHASE, log=log, ledger=Ledger(ctx.batch, ctx.run_id),
                                 policy=ctx.policy)
            if step is not None:
                return orphans + run.results
            return orphans + run.results + [_restored(conn, ctx, pre_batch)]


def restored(ctx: RunContext, pre_batch: dict) -> GateResult:
    """The schema equals the pre-batch schema (leaving out what steps in flux before the run had
    half-created): the proof after a batch's rollback nodes have run."""
    with ctx.session("production") as conn:
        return _restored(conn, ctx, pre_batch)


def _restored(conn, ctx: RunContext, pre_batch: dict) -> GateResult:
    return compare(Schema.from_json(pre_batch["schema"]), read_schema(conn, ctx.batch.history_objects),
                   gate="schema_restored", title="Schema back to the pre-batch schema", phase=PHASE,
                   ignore=frozenset(pre_batch.get("in_flux", ())))
