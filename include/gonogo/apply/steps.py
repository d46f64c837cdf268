"""Apply a batch's steps in order, validate each one, and undo them in reverse.

The same code runs the dry run on staging and the real thing on production; only the
phase name and whether the app writes meanwhile (live_traffic) differ.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

import psycopg

from gonogo.apply import history
from gonogo.postgres import rowcounts
from gonogo.apply.backfill import forget as forget_backfill
from gonogo.apply.backfill import run_backfill, vacuum_after
from gonogo.batch import Batch, Step
from gonogo.postgres.execute import Log, ScriptError, ScriptRun, run_script
from gonogo.postgres.retry import RetryPolicy, Tally
from gonogo.gates.preconditions import preconditions
from gonogo.postgres.problems import verify
from gonogo.results import GateResult, Verdict, failures
from gonogo.postgres.sqlfile import query


Progress = Callable[[list[str], "str | None"], None]
# How a script is run: execute.run_script, or locktrace's tracer on staging; raises ScriptError.
# Called as runner(conn, script, log, policy=..., before_commit=...).
Runner = Callable[..., "ScriptRun"]


@dataclass(frozen=True)
class Ledger:
    """Where applying and rolling back record themselves: gonogo's history in the database."""

    batch: Batch
    run_id: str


def recorder(batch: Batch, step: Step, *, ledger: Ledger | None = None,
             undo: bool = False) -> Callable[[psycopg.Connection], None]:
    """What the step's file writes in its own transaction (execute.run_script's before_commit),
    so that a row in a history always means the file's changes committed: gonogo's history
    (with a ledger) and the migration tool's own row (forgotten again by a rollback)."""
    started = datetime.now(timezone.utc)

    def write(conn: psycopg.Connection) -> None:
        if ledger:
            history.mark(conn, batch, step, "rolled_back" if undo else "applied")
        if batch.tool and step.origin:
            if undo:
                batch.tool.forget(conn, step.origin)
            else:
                batch.tool.record(conn, step.origin, started=started)
    return write
LOCK_RETRIES = "lock_retries"
_PLURAL = {"index": "indexes", "constraint": "constraints", "trigger": "triggers",
           "function": "functions", "extension": "extensions"}


@dataclass
class BatchRun:
    """What happened to a list of steps: results, the steps applied, the one that failed."""

    results: list[GateResult] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)   # by this run
    skipped: list[str] = field(default_factory=list)   # applied before, from the same file
    failed_step: str | None = None
    error: str | None = None
    # validate=False: each applied step's row counts before it, for its validation in a node of its own
    counted: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failed_step is None


class StepHook:
    """What a caller adds to each step of apply_steps (Django's migration executor reports
    progress through a callback the same way): `around` wraps the step and may give the runner
    its file runs with; `after` returns more evidence once the step ran, failed or not. The dry
    run traces locks under the app's traffic and measures plans and contracts with it."""

    @contextlib.contextmanager
    def around(self, step: Step) -> Iterator[Runner | None]:
        yield None

    def after(self, step: Step, results: list[GateResult], run: BatchRun) -> list[GateResult]:
        return []


def apply_steps(conn: psycopg.Connection, steps: list[Step], *, phase: str, live_traffic: bool,
                log: Log = print, on_progress: Progress = lambda applied, current: None,
                check_preconditions: bool = False, runner: Runner = run_script,
                ledger: Ledger | None = None, policy: RetryPolicy | None = None,
                batch: Batch | None = None, skip_applied: bool = False, hook: StepHook | None = None,
                run_id: str | None = None, validate: bool = True) -> BatchRun:
    """Apply each step, then validate it; stop at the first step that fails either.
    validate=False: the validation is left to validate_steps (a batch's DAG: a node of its own
    after each migration's), and the run keeps the row counts it needs (BatchRun.counted).

    With a ledger, gonogo's history decides (history.plan): a step applied before from the same
    file is skipped, one whose file was edited since is refused, and each step is recorded as
    running, then applied or failed — so a re-run resumes where a crash or a failure stopped.
    skip_applied: the history in `conn` only skips (the dry run on staging, whose history is
    production's copy); nothing is recorded but the step's own row. on_progress(applied, current)
    is called before each step and once at the end. Each step records itself in the histories
    (the ledger's batch, else `batch`) in its own transaction."""
    run = BatchRun()
    owner = ledger.batch if ledger else batch
    if ledger:
        history.ensure(conn)
    reads = ledger or (skip_applied and owner)  # else every step runs: the caller chose them
    planned = history.plan(steps, history.read(conn, owner.id) if reads else {})
    run_id = run_id or (ledger.run_id if ledger else "gonogo")
    for step, todo in zip(steps, planned):
        if todo.action == history.SKIP:
            log(f"== {phase}: step {step.order} {step.name} already applied by run {todo.recorded.run_id}: skipped")
            run.skipped.append(step.name)
            run.results.append(history.applied_before(step, todo.recorded, phase))
            continue
        if ledger:
            if todo.action == history.REFUSE:
                return _stop(run, step, [GateResult(
                    gate="applied_history", title="Applied migrations unchanged", phase=phase, subject=step.name,
                    verdict=Verdict.FAIL, value="file edited after it was applied",
                    threshold="sha256 equal to the one recorded when it ran", message=todo.refusal,
                    hint="restore the original file; put the change in a new migration")], log)
            history.start(conn, ledger.batch, step, ledger.run_id)
        on_progress(list(run.applied), step.name)
        log(f"== {phase}: step {step.order} {step.name} ({step.kind})")
        with hook.around(step) if hook else contextlib.nullcontext() as step_runner:
            results = apply_step(conn, step, phase=phase, live_traffic=live_traffic, log=log,
                                 check_preconditions=check_preconditions, runner=step_runner or runner,
                                 policy=policy, run_id=run_id, batch=batch,
                                 before_commit=recorder(owner, step, ledger=ledger) if owner else None,
                                 counted=None if validate else run.counted)
        if conn.closed:  # the server ended the session: its reason is in the step's error; nothing more is written
            run.results.extend(results)
            run.failed_step = step.name
            run.error = (f"step {step.name}: " + "; ".join(f"{r.title}: {r.message}" for r in failures(results))
                         + ". The session to the database was lost, so the history keeps this attempt 'running': "
                           "the next run resumes it")
            log(f"!! {run.error}")
            return run
        if ledger:  # the audit trail keeps what the lock retries met: deadlocks, autovacuums canceled
            retried = [r.details[0] for r in results if r.gate == LOCK_RETRIES]
            history.finish(conn, ledger.batch, step, ledger.run_id, "failed" if failures(results) else "applied",
                           detail={"results": [f"{r.gate}: {r.verdict.value} {r.value}" for r in results],
                                   **({LOCK_RETRIES: retried[0]} if retried else {})})
        more = hook.after(step, results, run) if hook else []  # its FAILs are evidence, not the step's failure
        if failures(results):
            return _stop(run, step, results, log, more)
        run.results.extend([*results, *more])
        run.applied.append(step.name)
    on_progress(list(run.applied), None)
    return run


def validate_steps(conn: psycopg.Connection, steps: list[Step], counted: dict[str, dict[str, int]], *,
                   phase: str, live_traffic: bool, log: Log = print, ledger: Ledger | None = None) -> BatchRun:
    """The validation apply_steps(validate=False) left for later, of each step it applied
    (`counted`: its row counts before the step); stop at the first that fails. With a ledger, a
    failed validation marks the step failed in gonogo's history, as apply_steps does."""
    run = BatchRun()
    for step in steps:
        if step.name not in counted:
            log(f"== {phase}: step {step.order} {step.name} not applied by this run: nothing to validate")
            continue
        log(f"== {phase}: validating step {step.order} {step.name}")
        results = validate_step(conn, step, counted[step.name], phase=phase, live_traffic=live_traffic)
        if failures(results):
            if ledger:
                history.finish(conn, ledger.batch, step, ledger.run_id, "failed",
                               detail={"results": [f"{r.gate}: {r.verdict.value} {r.value}" for r in results]})
            return _stop(run, step, results, log)
        run.results.extend(results)
        run.applied.append(step.name)
    return run


def _stop(run: BatchRun, step: Step, results: list[GateResult], log: Log, more: list[GateResult] = ()) -> BatchRun:
    run.results.extend([*results, *more])
    run.failed_step = step.name
    run.error = f"step {step.name}: " + "; ".join(f"{r.title}: {r.message}" for r in failures(results))
    log(f"!! {run.error}")
    return run


def policy_for(conn: psycopg.Connection, step: Step, policy: RetryPolicy | None) -> RetryPolicy:
    """The step's retry policy: the run's, or without one the session's lock_timeout and no
    retries; a step's own lock_timeout (manifest) overrides either."""
    if policy is None:
        current = conn.execute("SELECT current_setting('lock_timeout')").fetchone()[0]
        policy = RetryPolicy(lock_timeout=current, patient_lock_timeout=current, attempts=1)
    return dataclasses.replace(policy, lock_timeout=step.lock_timeout) if step.lock_timeout else policy


def apply_step(conn: psycopg.Connection, step: Step, *, phase: str, live_traffic: bool,
               log: Log = print, check_preconditions: bool = False, runner: Runner = run_script,
               policy: RetryPolicy | None = None, run_id: str = "gonogo",
               before_commit: Callable[[psycopg.Connection], None] | None = None,
               batch: Batch | None = None, counted: dict[str, dict[str, int]] | None = None) -> list[GateResult]:
    """Apply one step and validate it. With check_preconditions, the data is first measured
    against what the step adds (and, given its batch, the foreign keys preflight left to it);
    if it does not allow the step, the step is not run.
    before_commit: what the file's transaction records with it (recorder). counted: validate
    later (validate_step), keeping the row counts before the step there, by step."""
    pre = preconditions(conn, step, phase=phase, batch=batch) if check_preconditions else []
    if stopped := failures(pre):
        for result in stopped:
            log(f"!! {result.message}")
        return pre
    tables = step.tables()  # the step can only lose rows of the tables it touches
    before = rowcounts.count_rows(conn, tables)
    try:
        script = runner(conn, step.forward, log, policy=policy_for(conn, step, policy), before_commit=before_commit)
    except ScriptError as exc:
        return [*pre, *lock_retries(exc.run.tally, phase=phase, subject=step.name), GateResult(
            gate="step_applied", title="Migration applied", phase=phase, subject=step.name,
            verdict=Verdict.FAIL, value=f"failed at line {exc.line}", threshold="every statement succeeds",
            message=str(exc), hint="fix the data or the migration, then re-run: applied statements are idempotent",
            details=[{"line": s.line, "statement": s.summary, "seconds": round(s.seconds, 3)}
                     for s in exc.run.statements])]
    results = [*pre, GateResult(
        gate="step_applied", title="Migration applied", phase=phase, subject=step.name,
        verdict=Verdict.PASS, value=_ran(script),
        threshold="every statement succeeds",
        message=f"{step.forward.path.name} ran to the end",
        details=[{"line": s.line, "statement": s.summary, "seconds": round(s.seconds, 3),
                  "notices": s.notices, "attempts": getattr(s, "attempts", 1)} for s in script.statements]),
               *lock_retries(script.tally, phase=phase, subject=step.name)]
    if step.backfill:  # the file installed what keeps new rows in step; now the existing ones
        results.append(run_backfill(conn, step, run_id=run_id, policy=policy_for(conn, step, policy), log=log,
                                    phase=phase))
        if results[-1].failed:
            return results
        # the old version of every row it mapped stays until a vacuum: the app's scans read them
        results.append(vacuum_after(conn, step, run_id=run_id, policy=policy_for(conn, step, policy), log=log,
                                    phase=phase))
    if counted is not None:
        counted[step.name] = before
        return results
    return results + validate_step(conn, step, before, phase=phase, live_traffic=live_traffic)


def validate_step(conn: psycopg.Connection, step: Step, before: dict[str, int], *, phase: str,
                  live_traffic: bool) -> list[GateResult]:
    """What the step made exists and is valid, its verify file holds, and its tables kept their
    rows (`before`: their counts before it)."""
    results = [objects_valid(conn, step, phase=phase)]
    if step.verify:
        results.append(verify(conn, step.verify, phase=phase, subject=step.name))
    results.append(rowcounts.unchanged(before, rowcounts.count_rows(conn, step.tables()), phase=phase,
                                       subject=step.name, live_traffic=live_traffic))
    return results


def lock_retries(tally: Tally, *, phase: str, subject: str) -> list[GateResult]:
    """What the step's lock retries met (lock timeouts, deadlocks, autovacuums canceled or waited
    for), as one informational result; none when every unit went through at once."""
    met = tally.describe()
    if not met:
        return []
    return [GateResult(
        gate=LOCK_RETRIES, title="Lock waits retried", phase=phase, subject=subject, verdict=Verdict.PASS,
        value=met, threshold="each attempt within lock_timeout; retried with backoff",
        message=f"{met}: each attempt gave up its lock wait within lock_timeout and ran again, the app ran "
                f"in between", details=[tally.to_dict()])]


def objects_valid(conn: psycopg.Connection, step: Step, *, phase: str) -> GateResult:
    """Everything the step creates exists and is valid; nothing on its tables is left
    half-built (an invalid index, a NOT VALID constraint)."""
    expected = step.creates()
    rows = conn.execute(query("catalog.sql", "object_states"), {
        "kinds": [o.kind for o in expected], "names": [o.name for o in expected],
        "tables": [o.table for o in expected]}).fetchall()
    problems = [{"object": f"{kind} {name}", "state": "missing" if valid is None else "not valid"}
                for kind, name, _table, valid in rows if not valid]
    leftovers = conn.execute(query("catalog.sql", "invalid_objects"),
                             {"tables": sorted(step.tables())}).fetchall()
    problems += [{"object": f"{kind} {name} on {table}", "state": "not valid"}
                 for kind, name, table in leftovers
                 if {"object": f"{kind} {name}", "state": "not valid"} not in problems]
    counts = {kind: sum(1 for o in expected if o.kind == kind) for kind in dict.fromkeys(o.kind for o in expected)}
    made = ", ".join(f"{n} {_PLURAL[kind] if n > 1 else kind}" for kind, n in counts.items()) or "no objects"
    return GateResult(
        gate="objects_valid", title="Constraints validated, indexes valid", phase=phase, subject=step.name,
        verdict=Verdict.PASS if not problems else Verdict.FAIL,
        value=f"{len(problems)} problems in {made}", threshold="all exist; convalidated and indisvalid",
        message=(f"{made}: all present and valid" if not problems
                 else "; ".join(f"{p['object']} is {p['state']}" for p in problems[:5])),
        hint="" if not problems else "an interrupted CONCURRENTLY build leaves an invalid index: drop it "
                                     "and re-run the step; a NOT VALID constraint needs VALIDATE CONSTRAINT",
        details=problems)


def rollback_steps(conn: psycopg.Connection, steps: list[Step], *, phase: str,
                   log: Log = print, runner: Runner = run_script, ledger: Ledger | None = None,
                   policy: RetryPolicy | None = None, batch: Batch | None = None) -> BatchRun:
    """Run the rollbacks of `steps` in reverse order; stop at the first rollback that fails,
    since an earlier step's rollback may depend on the later one having been undone. Each
    rollback forgets its step in the histories (the ledger's batch, else `batch`) in its own
    transaction."""
    run = BatchRun()
    owner = ledger.batch if ledger else batch
    for step in reversed(steps):
        log(f"== {phase}: rollback of step {step.order} {step.name}")
        try:
            script = runner(conn, step.rollback, log, policy=policy_for(conn, step, policy),
                            before_commit=recorder(owner, step, ledger=ledger, undo=True) if owner else None)
        except ScriptError as exc:
            run.failed_step = step.name
            run.error = str(exc)
            run.results.extend(lock_retries(exc.run.tally, phase=phase, subject=step.name))
            run.results.append(GateResult(
                gate="rollback_applied", title="Rollback applied", phase=phase, subject=step.name,
                verdict=Verdict.FAIL, value=f"failed at line {exc.line}", threshold="every statement succeeds",
                message=str(exc), hint="finish this rollback by hand, or recover to the restore point (PITR)"))
            log(f"!! {run.error}")
            return run
        if step.backfill:  # a later apply must walk the whole range again: the trigger was gone
            forget_backfill(conn, step)
        if ledger:
            history.finish(conn, ledger.batch, step, ledger.run_id, "rolled_back")
        run.applied.append(step.name)
        run.results.append(GateResult(
            gate="rollback_applied", title="Rollback applied", phase=phase, subject=step.name,
            verdict=Verdict.PASS, value=_ran(script),
            threshold="every statement succeeds", message=f"{step.rollback.path.name} ran to the end"))
        run.results.extend(lock_retries(script.tally, phase=phase, subject=step.name))
    return run


def _ran(script) -> str:
    """How many of the file's statements ran, and how long they took (gonogo's BEGIN/COMMIT around
    a one-transaction file not counted: a one-line migration is "1 statement")."""
    return f"{script.written} statement{'' if script.written == 1 else 's'} in {script.seconds:.2f} s"
