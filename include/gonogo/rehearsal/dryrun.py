"""The dry run on the staging copy (the checklist's Phase 0) and its rollback rehearsal.

1. baseline: the schema, the top queries' plans and an observability snapshot, before the batch.
2. each enabled step in order, while the app's workload runs against staging and a sampler
   watches its lock waits: preconditions, apply (every statement's locks traced), validate,
   the lock budget, the longest wait, plans against the baseline, the contracts due by now.
3. rehearsal: every applied step rolled back in reverse (traced too), the schema compared
   with the baseline, then the batch applied again, so staging ends as production will.
4. the observability snapshot again, as a diff with the baseline.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import psycopg

from gonogo.authoring import discover
from gonogo.apply import history
from gonogo.rehearsal import observe
from gonogo.postgres import plans
from gonogo.batch import Pace, SqlFile
from gonogo.postgres.sqlfile import rolled_back
from gonogo.authoring.queries import Query
from gonogo.context import RunContext
from gonogo.postgres.execute import Log, ScriptError
from gonogo.gates.commands import run_command
from gonogo.gates.contracts import contracts
from gonogo.postgres.locktrace import TracedRun, WaitSampler, lock_budget, lock_waits, trace_script, whole_table_writes
from gonogo.results import GateResult, Verdict, failures, plural
from gonogo.postgres.schema import Schema, compare, read_schema
from gonogo.apply.steps import BatchRun, StepHook, apply_steps, lock_retries, rollback_steps, validate_steps
from gonogo.postgres.target import Target
from gonogo.watching.watch import rewritten_tables
from gonogo.rehearsal.workload import Workload, paced

PHASE, REHEARSAL = "dry_run", "rehearsal"


@dataclass(frozen=True)
class Baseline:
    """Staging before the batch; travels between tasks as JSON."""

    schema: Schema
    plans: dict
    observed: dict
    in_flux: frozenset[str] = frozenset()  # objects of steps a crash or failure left half-done
    queries: tuple[Query, ...] = ()  # the app's queries: the batch's own, or found on production
    workload: GateResult | None = None  # how they were found (None: the batch names them)

    def to_json(self) -> dict:
        return {"schema": self.schema.to_json(), "plans": self.plans, "observed": self.observed,
                "in_flux": sorted(self.in_flux), "queries": [q.to_dict() for q in self.queries],
                "workload": self.workload.to_dict() if self.workload else None}

    @classmethod
    def from_json(cls, data: dict) -> Baseline:
        return cls(Schema.from_json(data["schema"]), data["plans"], data["observed"],
                   frozenset(data.get("in_flux", ())), tuple(Query.from_dict(q) for q in data.get("queries", ())),
                   GateResult.from_dict(data["workload"]) if data.get("workload") else None)


def capture_baseline(ctx: RunContext) -> Baseline:
    """Staging before the batch. The app's queries are the batch's, or when it names none the
    top statements of production's pg_stat_statements with parameters found in the data."""
    batch = ctx.batch
    queries, found = batch.queries, None
    with ctx.session("staging") as conn:
        if not queries:
            with ctx.session("production") as production:
                queries, found = discover.workload(production, conn, history=batch.history_objects)
        measured = plans.measure(conn, queries, runs=batch.thresholds.explain_runs) if queries else {}
        return Baseline(read_schema(conn, batch.history_objects), plans.to_dicts(measured), observe.snapshot(conn),
                        history.in_flux(conn, batch), tuple(queries), found)


class _Tracing:
    """A step runner that traces every statement's locks and keeps the traces."""

    def __init__(self, observer: Target):
        self.observer, self.runs = observer, []

    def __call__(self, conn: psycopg.Connection, script: SqlFile, log: Log, policy=None,
                 before_commit=None) -> TracedRun:
        run = trace_script(conn, script, observer=self.observer, log=log, policy=policy, before_commit=before_commit)
        self.runs.append(run)
        return run


@contextlib.contextmanager
def _app_traffic(staging: Target, queries: tuple[Query, ...], app: str, pace: Pace = Pace(), log: Log = print):
    """The app's top queries running on staging at production's pace (gonogo.rehearsal.workload.paced),
    and a sampler of their lock waits (None when there are no queries: then there is no wait
    to measure)."""
    if not queries:
        yield None
        return
    traffic = paced(queries, rates=pace.rates, default=pace.default_calls_per_second, cap=pace.max_calls_per_second)
    log(f"   app traffic on staging: {traffic.describe()}, within {pace.max_busy_sessions:g} busy sessions")
    with Workload(staging, traffic.queries, clients=2, app=f"{app}/app",
                  max_busy_sessions=pace.max_busy_sessions) as load, \
            WaitSampler(staging, watch_pids=lambda: load.pids) as waits:
        yield waits
    stats = load.stats
    log(f"   app traffic on staging: {stats.calls} calls in {stats.seconds:.1f} s ({stats.qps:.1f}/s)"
        + (f"; rates scaled to ×{load.busy_scale:.2g} at the lowest to keep within "
           f"{pace.max_busy_sessions:g} busy sessions" if load.busy_scale < 1 else ""))


def apply_all(ctx: RunContext, baseline: Baseline, log: Log = print) -> list[GateResult]:
    """Each enabled step in order on staging (the one step loop, steps.apply_steps), measured by
    _Rehearsal around and after each; stops at the first step that fails."""
    return rehearse(ctx, baseline, log=log).results


def rehearse(ctx: RunContext, baseline: Baseline, log: Log = print, *, step: str | None = None,
             broken_since: dict[str, str] | None = None, validate: bool = True) -> BatchRun:
    """The enabled steps on staging, or `step` alone (a migration's own node of a batch's DAG:
    the nodes run in order, and the first also measures what holds before the batch); a step not
    enabled for this run is left alone. The run's failed_step says where it stopped.
    broken_since: {query: the step after which it first broke}, carried from node to node (updated
    in place), so a query is blamed on the step that broke it, once. validate=False: what the
    step's traced run measures only (locks, waits, rows written); its validation, plans and
    contracts are validate()'s, given the run's `counted` (a node of its own)."""
    batch = ctx.batch
    steps, earlier = list(batch.enabled_steps), []
    if step is not None:
        names = [s.name for s in steps]
        if step not in names:
            batch.step(step)  # a name the batch does not have raises here
            log(f"== {PHASE}: step {step} is disabled in this run: not rehearsed")
            return BatchRun()
        at = names.index(step)
        steps, earlier = [steps[at]], names[:at]
    with ctx.session("staging") as conn:
        results = []
        if not earlier:  # what holds before the batch: measured once, with the first step
            # The staging copy carries production's history: steps production has applied are
            # applied here too, and are neither applied again nor rolled back in the rehearsal.
            done = [s.name for s in history.split(batch, history.read(conn, batch.id))[0]]
            results = [baseline.workload] if baseline.workload else []
            results += contracts(conn, batch, done, phase=PHASE, subject="before the batch")
            results += _commands(ctx, None, log)
        run = apply_steps(conn, steps, phase=PHASE, live_traffic=False, log=log,
                          check_preconditions=True, policy=ctx.policy, batch=batch, skip_applied=True,
                          run_id=ctx.run_id, validate=validate,
                          hook=_Rehearsal(ctx, conn, baseline, log, earlier=earlier, broken_since=broken_since,
                                          validate=validate))
        if not run.ok:
            log(f"!! dry run stops at {run.failed_step}")
    run.results[:0] = results
    return run


def validate(ctx: RunContext, baseline: Baseline, step: str, counted: dict[str, dict[str, int]], log: Log = print,
             *, broken_since: dict[str, str] | None = None) -> BatchRun:
    """A migration's validation node on staging, after rehearse(validate=False) applied it: its
    objects valid, its verify file, its tables' rows; then the app's plans against the baseline,
    the contracts and the team's commands due by now. Nothing when the step was not applied by
    this run (applied before, disabled)."""
    batch = ctx.batch
    names = [s.name for s in batch.enabled_steps]
    with ctx.session("staging") as conn:
        run = validate_steps(conn, [batch.step(step)], counted, phase=PHASE, live_traffic=False, log=log)
        if run.ok and run.applied:
            rehearsal = _Rehearsal(ctx, conn, baseline, log, broken_since=broken_since)
            run.results += rehearsal.validated(batch.step(step), names[:names.index(step) + 1])
    if not run.ok:
        log(f"!! dry run stops at {run.failed_step}")
    return run


class _Rehearsal(StepHook):
    """What the dry run measures of each step: its locks traced while the app's queries run on
    staging (around), then the lock budget, the longest wait, whole-table writes and — when the
    step went through — plans against the baseline, the contracts and commands due by now."""

    def __init__(self, ctx: RunContext, conn: psycopg.Connection, baseline: Baseline, log: Log,
                 earlier: list[str] = (), broken_since: dict[str, str] | None = None, validate: bool = True):
        self.ctx, self.conn, self.baseline, self.log = ctx, conn, baseline, log
        self.validate = validate  # False: what the traced run measured only; validated() is a node's own
        self.earlier = list(earlier)  # steps rehearsed before this loop (by their own nodes)
        self.tracing, self.waits = None, None
        # query -> the step after which it first broke: blamed once
        self.broken_since: dict[str, str] = {} if broken_since is None else broken_since

    @contextlib.contextmanager
    def around(self, step):
        self.tracing = _Tracing(self.ctx.staging)
        batch = self.ctx.batch
        with _app_traffic(self.ctx.staging, self.baseline.queries, self.ctx.app, batch.pace, self.log) as waits:
            self.waits = waits
            yield self.tracing

    def after(self, step, results, run) -> list[GateResult]:
        t, found = self.ctx.batch.thresholds, []
        if self.tracing.runs:
            found.append(lock_budget(self.tracing.runs, budget_seconds=t.lock_budget_seconds, phase=PHASE,
                                     subject=step.name))
            if written := whole_table_writes(self.tracing.runs, phase=PHASE, subject=step.name):
                found.append(written)
        if self.waits is not None:
            found.append(lock_waits(self.waits, threshold_seconds=t.lock_wait_seconds, phase=PHASE,
                                    subject=step.name, traced_runs=self.tracing.runs))
        if failures(results) or not self.validate:
            return found
        return found + self.validated(step, [*self.earlier, *run.skipped, *run.applied, step.name])

    def validated(self, step, done: list[str]) -> list[GateResult]:
        """Once the step went through: the app's plans against the baseline, the contracts and the
        team's commands due after `done` (the steps so far, this one included)."""
        found = [self._latency(step)] if self.baseline.queries else []
        found += contracts(self.conn, self.ctx.batch, done, phase=PHASE, subject=step.name)
        return found + _commands(self.ctx, step.name, self.log)

    def _latency(self, step) -> GateResult:
        conn, batch, queries, t = self.conn, self.ctx.batch, self.baseline.queries, self.ctx.batch.thresholds
        after = plans.measure(conn, queries, runs=t.explain_runs)
        after = plans.confirm(conn, queries, self.baseline.plans, after, runs=t.explain_runs,
                              max_ratio=t.latency_ratio, floor_ms=t.latency_floor_ms, log=self.log)
        latency = plans.compare(self.baseline.plans, after, max_ratio=t.latency_ratio, floor_ms=t.latency_floor_ms,
                                phase=PHASE, subject=step.name, broken_since=self.broken_since,
                                controls=plans.controls_of(self.baseline.plans, batch.tables_needed()),
                                dead=_dead_tuples(conn, rewritten_tables(batch)), rewritten=rewritten_tables(batch))
        for row in latency.details:
            if row["verdict"] == "broken":
                self.broken_since[row["name"]] = f"step {step.order} {step.name}"
            elif row["verdict"] != plans.STILL_BROKEN:
                self.broken_since.pop(row["name"], None)  # works again: a later break is that step's
        return latency


def rehearse_rollbacks(ctx: RunContext, baseline: Baseline, applied: list[str], log: Log = print) -> list[GateResult]:
    """Seed 6, "Test rollback on staging first": roll back in reverse, compare, apply again.

    When every rollback can run inside a transaction, they run in one that is rolled back at the
    end (the schema compared just before): staging keeps the batch without applying it a second
    time, which for a whole-table UPDATE doubled the dry run's cost. Otherwise, or when that
    transaction fails, each rollback commits and the batch is applied again."""
    batch = ctx.batch
    steps = [batch.step(name) for name in applied]
    if not steps:
        return []
    script = rolled_back([step.rollback for step in reversed(steps)], "rollbacks of " + (f"{len(steps)} steps" if len(steps) > 1 else "1 step"))
    if script is not None:
        rehearsed = _rehearse_rolled_back(ctx, baseline, steps, script, log)
        if rehearsed is not None:
            return rehearsed
    return _rehearse_committed(ctx, baseline, steps, log)


def _rehearse_rolled_back(ctx: RunContext, baseline: Baseline, steps: list, script: SqlFile,
                          log: Log) -> list[GateResult] | None:
    """The rollbacks in one transaction, rolled back; None if it failed (nothing of it stays)."""
    staging, batch = ctx.staging, ctx.batch
    tracing, restored = _Tracing(staging), []

    def schema_before_undoing(conn: psycopg.Connection) -> None:  # inside the transaction, before its ROLLBACK
        restored[:] = [compare(baseline.schema, read_schema(conn, batch.history_objects), gate="rollback_rehearsal",
                               title="Rollbacks restore the pre-batch schema", phase=REHEARSAL,
                               subject="after rolling back every step", expected_label="the baseline schema",
                               ignore=baseline.in_flux)]

    log(f"== {REHEARSAL}: {script.path.name} in one transaction, rolled back at the end")
    with ctx.session("staging") as conn:
        with _app_traffic(staging, baseline.queries, ctx.app, batch.pace, log) as waits:
            try:
                run = tracing(conn, script, log, policy=ctx.policy, before_commit=schema_before_undoing)
            except ScriptError as exc:
                log(f"   {exc}: rehearsing each rollback on its own, committed, then applying the batch again")
                return None
    results, ran = [], iter(run.statements[1:-1])  # BEGIN and ROLLBACK are the rehearsal's own
    for step in reversed(steps):
        own = [next(ran) for statement in step.rollback.as_run if not statement.is_transaction_control]
        results.append(GateResult(
            gate="rollback_applied", title="Rollback applied", phase=REHEARSAL, subject=step.name,
            verdict=Verdict.PASS, value=f"{plural(len(own), 'statement')} in {sum(s.seconds for s in own):.2f} s",
            threshold="every statement succeeds",
            message=f"{step.rollback.path.name} ran to the end, in the rehearsal's transaction"))
    results += lock_retries(run.tally, phase=REHEARSAL, subject="rollbacks")
    results += _rehearsal_locks(tracing, waits, batch)
    results += restored
    same = bool(restored) and not failures(restored)
    results.append(GateResult(
        gate="rollback_rehearsal", title="The batch applies again after its rollbacks", phase=REHEARSAL,
        subject="applied again", verdict=Verdict.PASS if same else Verdict.FAIL,
        value="not applied a second time: the rollbacks were rolled back",
        threshold="staging after the rollbacks is the staging the batch applied on",
        message=("after the rollbacks staging's schema was the baseline's, on which every step applied and kept "
                 "the row counts: a rollback on production can be followed by a new attempt; the rollbacks' "
                 "transaction was rolled back, so staging ends as production will") if same else
                "the rollbacks do not restore the schema the batch applied on: a new attempt after a rollback "
                "meets a different schema",
        hint="" if same else "read the schema difference above; make the rollback undo all its step made"))
    return results


def _rehearsal_locks(tracing: _Tracing, waits, batch) -> list[GateResult]:
    """The rehearsal's lock budget, whole-table writes and the app's lock waits."""
    results = []
    if tracing.runs:
        results.append(lock_budget(tracing.runs, budget_seconds=batch.thresholds.lock_budget_seconds,
                                   phase=REHEARSAL, subject="rollbacks"))
        if written := whole_table_writes(tracing.runs, phase=REHEARSAL, subject="rollbacks"):
            results.append(written)
    if waits is not None:
        results.append(lock_waits(waits, threshold_seconds=batch.thresholds.lock_wait_seconds,
                                  phase=REHEARSAL, subject="rollbacks", traced_runs=tracing.runs))
    return results


def _rehearse_committed(ctx: RunContext, baseline: Baseline, steps: list, log: Log) -> list[GateResult]:
    """Each rollback committed in reverse, the schema compared, then the batch applied again."""
    staging, batch = ctx.staging, ctx.batch
    tracing = _Tracing(staging)
    with ctx.session("staging") as conn:
        with _app_traffic(staging, baseline.queries, ctx.app, batch.pace, log) as waits:
            run = rollback_steps(conn, steps, phase=REHEARSAL, log=log, runner=tracing, policy=ctx.policy,
                                 batch=batch)
        results = [*run.results, *_rehearsal_locks(tracing, waits, batch)]
        if not run.ok:
            return results
        results.append(compare(baseline.schema, read_schema(conn, batch.history_objects), gate="rollback_rehearsal",
                               title="Rollbacks restore the pre-batch schema", phase=REHEARSAL,
                               subject="after rolling back every step", expected_label="the baseline schema",
                               ignore=baseline.in_flux))
        again = apply_steps(conn, steps, phase=REHEARSAL, live_traffic=False, log=log, policy=ctx.policy,
                            batch=batch)
    results.append(GateResult(
        gate="rollback_rehearsal", title="The batch applies again after its rollbacks", phase=REHEARSAL,
        subject="applied again", verdict=Verdict.PASS if again.ok else Verdict.FAIL,
        value=f"{len(again.applied)} of {len(steps)} steps re-applied", threshold=f"all {len(steps)}",
        message="rolled back and applied again cleanly: a rollback on production can be followed by a "
                "new attempt" if again.ok else again.error,
        hint="" if again.ok else "a rollback leaves something behind that the forward step trips on"))
    return results


def _dead_tuples(conn: psycopg.Connection, tables: set[str]) -> dict[str, float]:
    """{table: % of dead tuples} of the tables the batch rewrites (gonogo.watching.judge's diagnosis)."""
    if not tables:
        return {}
    # this session's own counts (the step and its backfill ran here) flushed, a fresh snapshot read
    observe._quietly(conn, "SELECT pg_stat_force_next_flush()")
    observe._quietly(conn, "SELECT pg_stat_clear_snapshot()")
    rows = conn.execute("SELECT relname, 100.0 * n_dead_tup / nullif(n_live_tup + n_dead_tup, 0) "
                        "FROM pg_stat_user_tables WHERE relname = ANY(%s)", [sorted(tables)]).fetchall()
    return {name: float(pct or 0.0) for name, pct in rows}


def _commands(ctx: RunContext, after: str | None, log: Log) -> list[GateResult]:
    """The team's commands due on the staging copy at this point (before the batch: after=None)."""
    return [run_command(c, ctx.staging, phase=PHASE, subject=after or "before the batch", app=ctx.app, log=log,
                        guards=ctx.guards)
            for c in ctx.batch.commands if c.target == "staging" and c.after == after]


def compare_observability(ctx: RunContext, baseline: Baseline) -> GateResult:
    with ctx.session("staging") as conn:
        return observe.diff(baseline.observed, observe.snapshot(conn), phase=PHASE, subject="staging")
