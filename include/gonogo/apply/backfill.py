"""Batched backfill: fill in one column of a big table while the app keeps writing to it.

A step with a `backfill` in its manifest first runs its file (which installs the dual-write
trigger), then this runner walks the rows that existed at that moment, in key order, in
batches of `batch_size` rows. Rows the app inserts later get higher keys and are mapped by the
trigger, so the range is fixed when the backfill starts: min(key) - 1 < key <= max(key). A
batch's range ends at the key of its batch_size-th row, so gaps in the keys cost nothing.

Each batch is one short transaction:

1. lock the progress row of this backfill (two runs of it take turns);
2. lock the batch's rows (FOR NO KEY UPDATE: the app cannot change or delete them until the
   commit) and take their count and an md5 of every column except the one being filled in;
3. run the batch file's UPDATE for that key range;
4. take the same count and checksum of the same rows (by their keys) again;
5. record the new position in gonogo.backfill_progress and COMMIT, only if both are equal;
   otherwise ROLLBACK and fail naming the range.

The range is done once a batch reaches its last key, or finds no row left in it.

With the rows locked between 2 and 4, nothing but this transaction can change them, so equal
counts and checksums prove, also under live traffic, that the batch lost no row and changed
nothing beyond the mapped column. The progress is committed with the batch, so a run that is
killed resumes after the last committed batch, and a finished one does nothing more.

A batch is one unit of gonogo.postgres.retry: one that cannot get its locks within the session's
lock_timeout (SQLSTATE 55P03) or loses a deadlock (40P01) is retried whole with backoff. Progress, rate and the time left go to `log` at
every 10 % of the rows and in between every `log_every` seconds, so a slow backfill never looks
hung and a 10-million-row one does not flood the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from gonogo.apply import history
from gonogo.batch import Backfill, Step
from gonogo.apply.progress import duration
from gonogo.results import GateResult, Verdict
from gonogo.postgres.retry import RetryPolicy, Tally, run_unit
from gonogo.postgres.sqlfile import query

Log = Callable[[str], None]

GATE, TITLE = "backfill", "Backfill batched, nothing lost"
THRESHOLD = "every batch: same rows and same checksum of the untouched columns before and after"
LOG_EVERY_SECONDS = 5.0
_INTEGER_TYPES = ("smallint", "integer", "bigint")


@dataclass(frozen=True)
class Progress:
    """A backfill's row in gonogo.backfill_progress: done up to last_key (inclusive) of the
    range that ends at upto_key; rows_done rows mapped so far, over all runs."""

    last_key: int
    upto_key: int
    rows_done: int

    @property
    def finished(self) -> bool:
        return self.last_key >= self.upto_key


@dataclass(frozen=True)
class _Done:
    """One committed batch."""

    from_key: int
    to_key: int
    rows: int    # rows of the batch, locked and checked
    mapped: int  # rows the UPDATE changed


class _Mismatch(Exception):
    """A batch's rows differ beyond the mapped column after its UPDATE: it was rolled back."""

    def __init__(self, detail: dict):
        super().__init__(detail)
        self.detail = detail


@dataclass
class _Tally:
    """What one run of a backfill did so far: the details of its result."""

    resumed_from: int | None
    upto_key: int
    started: float = field(default_factory=time.monotonic)
    done: list[_Done] = field(default_factory=list)
    retries: Tally = field(default_factory=Tally)

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.done)

    @property
    def mapped(self) -> int:
        return sum(d.mapped for d in self.done)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def details(self) -> dict:
        seconds = self.seconds
        return {"batches": len(self.done), "rows": self.rows, "rows_mapped": self.mapped,
                "seconds": round(seconds, 3), "rows_per_second": round(self.rows / seconds) if seconds else None,
                "resumed_from": self.resumed_from, "upto_key": self.upto_key, "lock_retries": self.retries.retried,
                "deadlocks": self.retries.deadlocks}


def run_backfill(conn: psycopg.Connection, step: Step, *, run_id: str,
                 policy: RetryPolicy = RetryPolicy(), log: Log = print, phase: str = "",
                 log_every: float = LOG_EVERY_SECONDS) -> GateResult:
    """Run the step's backfill to the end (or on from where an earlier run stopped), proving
    each batch changed nothing but the mapped column. Each batch commits on its own, so the
    session must not be inside a transaction. Exceptions raised by `log` are not caught: the
    run stops there, resumable."""
    spec = step.backfill
    if spec is None:
        raise ValueError(f"step {step.name} has no backfill in the manifest of batch {step.batch_id}")
    conn.autocommit = True  # raises if the caller left a transaction open
    where = {"batch": step.batch_id, "step": step.name}
    label = f"{spec.table}.{spec.column}"

    def result(verdict: Verdict, value: str, message: str, hint: str = "", **details) -> GateResult:
        if not conn.broken:
            history.record(conn, run_id, step.batch_id, "backfill", step=step.name,
                           detail={"verdict": verdict.value, "value": value, **details})
        return GateResult(gate=GATE, title=TITLE, phase=phase, subject=step.name, verdict=verdict,
                          value=value, threshold=THRESHOLD, message=message, hint=hint, details=[details])

    history.ensure(conn)
    columns = dict(conn.execute(query("backfill.sql", "columns"), {"table": spec.table}).fetchall())
    if wrong := _shape_problem(spec, columns):
        return result(Verdict.FAIL, "not started", wrong,
                      hint="make the manifest's backfill (table, key, column) name the table and its columns")
    statements = _statements(spec, [c for c in columns if c != spec.column])

    state = read_progress(conn, step)
    if state is None:
        low, high = conn.execute(statements["key_range"]).fetchone()
        conn.execute(query("backfill.sql", "start"), {**where, "last_key": low or 0, "upto_key": high or 0})
        state, resumed_from = read_progress(conn, step), None
    elif state.finished:
        log(f"  backfill {label}: finished earlier (up to {spec.key} {state.upto_key}, "
            f"{state.rows_done} rows mapped): nothing left to do")
        return result(Verdict.PASS, f"nothing left: {state.rows_done} rows mapped by an earlier run",
                      f"{label} was backfilled up to {spec.key} {state.upto_key} by an earlier run; rows "
                      f"written since are mapped by the dual-write trigger",
                      **_Tally(state.last_key, state.upto_key).details(), rows_done=state.rows_done)
    else:
        resumed_from = state.last_key
    walked_before, left = conn.execute(statements["rows_in_range"],
                                       {"last_key": state.last_key, "upto_key": state.upto_key}).fetchone()
    total = walked_before + left
    if resumed_from is None:
        log(f"  backfill {label}: {total} rows with {state.last_key} < {spec.key} <= {state.upto_key}, in batches "
            f"of {spec.batch_size} rows, {spec.pause_ms} ms apart")
    else:
        log(f"  backfill {label}: resuming after {spec.key} {resumed_from}: {walked_before} of {total} rows "
            f"done before ({state.rows_done} mapped), {left} to go")

    tally = _Tally(resumed_from, state.upto_key)
    position, last_line, logged_tenth = state.last_key, tally.started, _tenth(walked_before, total)
    while position < state.upto_key:
        try:
            done = run_unit(conn, lambda: _one_batch(conn, spec, statements, where), policy,
                            what=f"the backfill batch after {spec.key} {position}", log=log, tally=tally.retries)
        except _Mismatch as exc:
            bad = exc.detail
            return result(
                Verdict.FAIL, f"checksum changed in the batch {bad['from_key']} < {spec.key} <= {bad['to_key']}",
                f"the batch {bad['from_key']} < {spec.key} <= {bad['to_key']} had {bad['rows_before']} rows with "
                f"checksum {bad['checksum_before']} before its UPDATE and {bad['rows_after']} with "
                f"{bad['checksum_after']} after: it changed more than {label}; it was rolled back, the "
                f"{_batches(len(tally.done))} before it stay committed",
                hint=f'the batch file or a trigger on "{spec.table}" changes another column: fix that, then '
                     f"re-run; the backfill resumes after {spec.key} {bad['from_key']}",
                **tally.details(), mismatch=bad)
        except psycopg.Error as exc:
            primary = exc.diag.message_primary or str(exc).strip() or type(exc).__name__
            lost = " (the session is gone)" if conn.broken else ""
            locked = ("rows stayed locked by another session over every attempt: find it in pg_locks / "
                      "pg_stat_activity, then re-run")
            return result(
                Verdict.FAIL, f"stopped after {spec.key} {position}",
                f"the batch after {spec.key} {position} failed (SQLSTATE {exc.sqlstate}): {primary}{lost}; it "
                f"was rolled back, the {_batches(len(tally.done))} before it stay committed",
                hint=(locked if exc.sqlstate == "55P03" else "fix the cause, then re-run")
                     + f"; the backfill resumes after {spec.key} {position}",
                **tally.details(), error=f"SQLSTATE {exc.sqlstate}: {primary}")
        if done is None:  # another run of this backfill finished the range
            break
        tally.done.append(done)
        position = done.to_key
        now, tenth = time.monotonic(), _tenth(walked_before + tally.rows, total)
        if position >= state.upto_key or tenth > logged_tenth or now - last_line >= log_every:
            last_line, logged_tenth = now, tenth
            log(_progress_line(label, tally, walked_before, total))
        if position < state.upto_key:
            time.sleep(spec.pause_ms / 1000)

    again = f", resumed after {spec.key} {resumed_from}" if resumed_from is not None else ""
    return result(
        Verdict.PASS, f"{tally.mapped} rows mapped in {_batches(len(tally.done))}, {tally.seconds:.2f} s",
        f"{label}: {tally.rows} rows checked in {_batches(len(tally.done))} of up to {spec.batch_size} rows{again}; "
        f"each committed only with the same rows and the same checksum of their other columns before and after",
        **tally.details())


VACUUM_GATE, VACUUM_TITLE = "backfill_vacuum", "Backfilled table vacuumed and analyzed"


def vacuum_after(conn: psycopg.Connection, step: Step, *, run_id: str, policy: RetryPolicy = RetryPolicy(),
                 log: Log = print, phase: str = "") -> GateResult:
    """VACUUM (ANALYZE) the table a finished backfill rewrote, unless the manifest says
    vacuum_after: false; its dead tuples (pg_stat_user_tables.n_dead_tup) are measured before
    and after and recorded as a backfill event (action: vacuum). The backfill left one dead version of every row
    it mapped: until a vacuum, every sequential scan of the table reads them too (measured on
    the recipe app: ~47 % dead tuples, recipe_search slower with the same plan), and the
    planner's statistics predate the new column's values.
    VACUUM cannot run inside a transaction block (the session is in autocommit) and takes SHARE
    UPDATE EXCLUSIVE: the app's reads and writes go on; only DDL, CREATE INDEX CONCURRENTLY and
    another vacuum of the table wait for it. It runs without statement_timeout (killing it
    halfway throws its work away, and it blocks nobody); a lock timeout (autovacuum or DDL holding
    the table) is retried like a batch. It failing is a WARN: the backfill is done and right,
    only the table is bloated until autovacuum comes."""
    spec = step.backfill
    if spec is None:
        raise ValueError(f"step {step.name} has no backfill in the manifest of batch {step.batch_id}")
    conn.autocommit = True
    table = f'"{spec.table}"'

    def result(verdict: Verdict, value: str, message: str, hint: str = "", **details) -> GateResult:
        if not conn.broken:
            # a backfill event: gonogo.events' CHECK of event names in existing databases has no "vacuum"
            history.record(conn, run_id, step.batch_id, "backfill", step=step.name,
                           detail={"action": "vacuum", "verdict": verdict.value, "value": value, **details})
        return GateResult(gate=VACUUM_GATE, title=VACUUM_TITLE, phase=phase, subject=step.name, verdict=verdict,
                          value=value, threshold="dead tuples of the backfilled table removed before the next step",
                          message=message, hint=hint, details=[{"table": spec.table, **details}])

    before, live = _dead_tuples(conn, spec.table)
    if not spec.vacuum_after:
        log(f"  backfill {spec.table}: not vacuumed (manifest: vacuum_after: false), {before} dead tuples left")
        return result(Verdict.PASS, f"not vacuumed: {before} dead tuples left",
                      f"the manifest says vacuum_after: false: {table} keeps {before} dead tuples "
                      f"({_share(before, live)}) until autovacuum comes",
                      dead_tuples_before=before, live_tuples=live, vacuumed=False)
    log(f"  backfill {spec.table}: VACUUM (ANALYZE) {table}, {before} dead tuples ({_share(before, live)})")
    started = time.monotonic()
    try:
        run_unit(conn, lambda: _vacuum(conn, spec.table), policy, what=f"VACUUM (ANALYZE) {table}", log=log)
    except psycopg.Error as exc:
        primary = exc.diag.message_primary or str(exc).strip() or type(exc).__name__
        return result(Verdict.WARN, f"not vacuumed: {before} dead tuples left",
                      f"VACUUM (ANALYZE) {table} failed (SQLSTATE {exc.sqlstate}): {primary}; the backfill is "
                      f"done, the table keeps {before} dead tuples ({_share(before, live)})",
                      hint=f"run VACUUM (ANALYZE) {table} when nothing holds the table: its scans read the "
                           f"dead rows until then", dead_tuples_before=before, live_tuples=live, vacuumed=False,
                      error=f"SQLSTATE {exc.sqlstate}: {primary}")
    seconds = time.monotonic() - started
    after, live = _dead_tuples(conn, spec.table)
    log(f"  backfill {spec.table}: vacuumed in {seconds:.2f} s, dead tuples {before} -> {after}")
    return result(Verdict.PASS, f"dead tuples {before} → {after} in {seconds:.2f} s",
                  f"{table} vacuumed and analyzed after its backfill: dead tuples {before} "
                  f"({_share(before, live)}) before, {after} after",
                  dead_tuples_before=before, dead_tuples_after=after, live_tuples=live,
                  seconds=round(seconds, 3), vacuumed=True)


def _vacuum(conn: psycopg.Connection, table: str) -> None:
    timeout = conn.execute("SELECT current_setting('statement_timeout')").fetchone()[0]
    conn.execute("SELECT set_config('statement_timeout', '0', false)")
    try:
        conn.execute(sql.SQL(query("backfill.sql", "vacuum")).format(table=sql.Identifier(table)))
    finally:
        if not conn.broken:
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (timeout,))


def _dead_tuples(conn: psycopg.Connection, table: str) -> tuple[int, int]:
    """(n_dead_tup, n_live_tup) of the table, this session's own counts included: PostgreSQL 15+
    flushes a session's statistics at most once a second, unless told to at the next idle."""
    if conn.info.server_version >= 150000:
        conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute(query("backfill.sql", "dead_tuples"), {"table": table}).fetchone()
    return (row[0], row[1]) if row else (0, 0)


def _share(dead: int, live: int) -> str:
    return f"{100.0 * dead / (dead + live):.0f} % of the table's row versions" if dead + live else "empty table"


def read_progress(conn: psycopg.Connection, step: Step) -> Progress | None:
    """The step's backfill progress, None where it never started."""
    row = conn.execute(query("backfill.sql", "progress"), {"batch": step.batch_id, "step": step.name}).fetchone()
    return Progress(*row) if row else None


def forget(conn: psycopg.Connection, step: Step) -> None:
    """Drop the step's backfill progress, so that applying the step again backfills again. Call
    it when the step is rolled back: rows written while the trigger was gone need mapping."""
    if not conn.execute(query("history.sql", "exists")).fetchone()[0]:
        return  # gonogo never ran here: nothing to forget
    conn.execute(query("backfill.sql", "forget"), {"batch": step.batch_id, "step": step.name})


def _one_batch(conn: psycopg.Connection, spec: Backfill, statements: dict[str, sql.Composed],
               where: dict) -> _Done | None:
    """One batch in one transaction (see the module docstring); None when the range is done."""
    with conn.transaction():
        last_key, upto_key = conn.execute(query("backfill.sql", "claim"), where).fetchone()
        if last_key >= upto_key:
            return None
        rows, to_key, before, keys = conn.execute(statements["lock_batch"], {
            "from_key": last_key, "upto_key": upto_key, "batch_size": spec.batch_size}).fetchone()
        mapped = 0
        if rows:
            mapped = conn.execute(spec.query, {"from_key": last_key, "to_key": to_key}, prepare=False).rowcount
            rows_after, after = conn.execute(statements["checksum"], {"keys": keys}).fetchone()
            if (rows_after, after) != (rows, before):
                raise _Mismatch({"from_key": last_key, "to_key": to_key, "rows_before": rows,
                                 "rows_after": rows_after, "checksum_before": before, "checksum_after": after})
        if rows:
            reached = to_key
        else:  # the range is walked, unless rows the lock did not see were committed meanwhile
            left = conn.execute(statements["any_left"], {"from_key": last_key, "upto_key": upto_key}).fetchone()[0]
            reached = last_key if left else upto_key
        conn.execute(query("backfill.sql", "advance"), {**where, "last_key": reached, "rows": mapped})
    return _Done(from_key=last_key, to_key=reached, rows=rows, mapped=mapped)


def _shape_problem(spec: Backfill, columns: dict[str, str]) -> str:
    """What in the manifest's backfill does not match the live table, or ''."""
    if not columns:
        return f'table "{spec.table}" does not exist'
    for name in (spec.key, spec.column):
        if name not in columns:
            return f'table "{spec.table}" has no column "{name}" (columns: {", ".join(columns)})'
    if columns[spec.key] not in _INTEGER_TYPES:
        return (f'the key "{spec.key}" of "{spec.table}" is {columns[spec.key]}: the batches walk an integer '
                f"key ({', '.join(_INTEGER_TYPES)})")
    return ""


def _statements(spec: Backfill, others: list[str]) -> dict[str, sql.Composed]:
    """The table's queries of backfill.sql with its identifiers filled in; {row} is the row of
    every column but the mapped one, so the checksum covers exactly what must not change."""
    names = {"table": sql.Identifier(spec.table), "key": sql.Identifier(spec.key),
             "row": sql.SQL("ROW({})").format(sql.SQL(", ").join(map(sql.Identifier, others)))}
    return {name: sql.SQL(query("backfill.sql", name)).format(**names)
            for name in ("key_range", "rows_in_range", "lock_batch", "checksum", "any_left")}


def _progress_line(label: str, tally: _Tally, walked_before: int, total: int) -> str:
    """Rows done, percent of the range, rate and the time left, for the task log."""
    walked, seconds = walked_before + tally.rows, tally.seconds
    rate = tally.rows / seconds if seconds > 0 else 0.0
    left = max(total - walked, 0)
    percent = 100.0 * walked / total if total else 100.0
    eta = f"about {duration(left / rate)} left" if rate and left else "done"
    return (f"    backfill {label}: {walked} of {total} rows ({percent:.0f} %), {tally.mapped} mapped in "
            f"{_batches(len(tally.done))}, {rate:.0f} rows/s, {eta}")


def _tenth(walked: int, total: int) -> int:
    """How many tenths of the range are walked: a progress line at each new one."""
    return 10 * walked // total if total else 10


def _batches(n: int) -> str:
    return f"{n} batch" if n == 1 else f"{n} batches"
