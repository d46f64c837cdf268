"""The dynamic lock trace: what each statement of a migration really locks on staging, for
how long, what it rewrites, and what the app's queries felt meanwhile.

trace_script runs a file exactly as execute.run_script does (same statements, same
transactions, same errors) and reads, for each statement, the relation locks its own
backend holds (pg_locks), how long it held them, and which tables or indexes got new
storage (pg_class.relfilenode changed: a rewrite). How a statement is watched depends on
where it runs:

- on its own (autocommit), as most statements of a migration: it runs as BEGIN; <statement>;
  then the session reads its own locks (held to the end of the transaction, so the read is
  exact); COMMIT. Held = from the statement's start to the COMMIT.
- inside the file's own BEGIN ... COMMIT: after each statement the session reads its locks;
  each lock belongs to the statement that first took it and is held until the file's COMMIT.
- one that cannot run in a transaction block (CONCURRENTLY, VACUUM, REINDEX SCHEMA, a DO
  block or CALL that commits): it runs as written while a second session (the observer)
  polls pg_locks for its backend every few ms. Those locks are marked sampled: a lock held
  for less than a poll can be missed, and held is the time between the first and last sight.
- transaction control and SET run as written, untraced: they lock no relation.

A lock on a table the statement does not name is named for why it is taken: ADD FOREIGN KEY
takes SHARE ROW EXCLUSIVE on the referenced table too, DROP of a foreign key ACCESS EXCLUSIVE
(PostgreSQL 15, pg_locks), so each lock on either end of a foreign key the statement adds,
drops or uses says which end it is (LockHold.role).

Rows written: each UPDATE and DELETE (also inside a DO block) is measured against the rows
its table had before it ran (TableWrite), so a statement that wrote at least WHOLE_TABLE_RATIO
of a table is named a whole-table write even when its WHERE hides it (WHERE y IS NOT NULL
where every row has y). The rows written are the command status's row count (a DO block
reports none: the statistics' counters before and after it); the table's rows are counted
exactly, but only up to rows-written ÷ WHOLE_TABLE_RATIO, so the count reads at most about
as many rows as the statement wrote, and the estimates are not trusted: reltuples is -1 for a
table nothing has analyzed or indexed yet (a staging copy pg_restore just loaded), n_live_tup
is 0 in a CREATE DATABASE ... TEMPLATE copy and a second stale (measured on PostgreSQL 15).
Measured on 1M rows: a whole-table UPDATE 4.7 s, then its count 0.25 s (reltuples: 1 ms);
an UPDATE of 10 000 rows, its count 0.009 s against 0.09 s for count(*) of the table. A DO block that COMMITs runs its rounds as separate
transactions: its total is reported against the table, marked batched, never as one
transaction's whole-table write. INSERT ... SELECT is not measured: it locks none of the
table's existing rows.

lock_budget turns the traces into the "no long locks" gate. WaitSampler watches the app's
sessions (a gonogo.rehearsal.workload.Workload) for lock waits while a migration runs; lock_waits
turns the longest wait into a gate.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from pglast import ast
from psycopg import pq, sql

from gonogo.postgres import locks
from gonogo.postgres.sqlfile import SqlFile, query
from gonogo.errors import GonogoError
from gonogo.postgres.execute import Log, execute_statement, run_script
from gonogo.results import GateResult, Verdict
from gonogo.postgres.retry import RetryPolicy, Tally
from gonogo.postgres.statements import Statement, needs_autocommit, opens_transaction
from gonogo.postgres.target import Target

LOCK_POLL_SECONDS = 0.005  # how often a statement outside a transaction block is sampled
WAIT_POLL_SECONDS = 0.02   # how often the app's sessions are checked for lock waits

# Run as written and untraced: they lock no relation, and SET TRANSACTION must be the first
# statement of its transaction, so the tracer sends nothing around them.
_UNTRACED = (ast.TransactionStmt, ast.VariableSetStmt, ast.VariableShowStmt)
# What the server says when a statement turns out not to run in a transaction block after
# all: 25001 (CONCURRENTLY and the like), 2D000 (a COMMIT inside a procedure or DO block).
_NOT_IN_BLOCK_SQLSTATES = {"25001", "2D000"}
_NEW = "nothing: the relation is new, created by this migration, and no other session can see it yet"
# At least this share of a table's rows written by one statement in one transaction is a
# whole-table write: it catches the WHEREs that only look bounded (IS NOT NULL on a filled
# column, id != 1, a join every row matches) and leaves room for rows the app adds meanwhile.
WHOLE_TABLE_RATIO = 0.9
_WRITES = (ast.UpdateStmt, ast.DeleteStmt)


@dataclass
class LockHold:
    relation: str      # as regclass prints it: "Recipe", public.t
    mode: str          # ACCESS SHARE ... ACCESS EXCLUSIVE
    locktype: str
    held_seconds: float
    sampled: bool = False  # seen by polling (at least this long), not read exactly
    blocks: str = ""       # what it blocks for the app, in plain words
    new: bool = False      # the relation did not exist before: nobody can wait for it
    until_commit: bool = False  # taken inside a BEGIN ... COMMIT: held to its COMMIT, not its statement's end
    role: str = ""         # why a table the statement may not name is locked: its end of a foreign key

    @property
    def blocks_app(self) -> bool:
        """Whether holding it stops the app (SHARE or stronger, on a relation the app can see)."""
        return not self.new and locks.blocks_app(self.mode)


@dataclass
class TableWrite:
    """The rows one statement updated or deleted in one table, against the rows it had before."""

    relation: str
    rows: int                # updated + deleted
    table_rows: int          # before the statement ran (at least this many when more_than)
    more_than: bool = False  # the count stopped at its limit: the table had more rows
    batched: bool = False    # a DO block that COMMITs: its rounds are separate transactions
    counted_by: str = "row count"  # the command status's row count, or "statistics" (a DO block)

    @property
    def ratio(self) -> float | None:
        """rows ÷ table_rows (an upper bound when more_than); None for a table that had no rows."""
        return self.rows / self.table_rows if self.table_rows > 0 else None

    @property
    def whole_table(self) -> bool:
        """At least WHOLE_TABLE_RATIO of a table that had rows, in one transaction."""
        return not self.batched and not self.more_than and (self.ratio or 0) >= WHOLE_TABLE_RATIO

    def describe(self) -> str:
        if self.ratio is None:
            return f"{self.rows} rows of {self.relation}, which had none before"
        # Rounded towards what was measured: 4999 of 5000 is not 100 %, and a bound stays a bound.
        if self.more_than:
            share, of = f"at most {math.ceil(self.ratio * 1000) / 10:g} %", f"at least {self.table_rows}"
        else:
            share, of = f"{math.floor(self.ratio * 1000) / 10:g} %", str(self.table_rows)
        how = (" over the block's own COMMITs (batched: each round is its own transaction)" if self.batched
               else " in one transaction")
        return f"{self.rows} of {of} rows of {self.relation} ({share}){how}"

    def to_dict(self) -> dict[str, Any]:
        return {"relation": self.relation, "rows": self.rows, "table_rows": self.table_rows,
                "more_than": self.more_than, "ratio": None if self.ratio is None else round(self.ratio, 4),
                "batched": self.batched, "counted_by": self.counted_by, "whole_table": self.whole_table}


@dataclass
class StatementTrace:
    line: int
    summary: str
    seconds: float
    locks: list[LockHold] = field(default_factory=list)
    rewrites: list[str] = field(default_factory=list)  # relations given new storage
    notices: list[str] = field(default_factory=list)
    method: str = "exact"  # exact | sampled | untraced
    writes: list[TableWrite] = field(default_factory=list)  # rows its UPDATEs and DELETEs wrote


@dataclass
class TracedRun:
    file: str
    statements: list[StatementTrace] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)  # what its lock retries met (run_script's)
    written: int = 0  # the file's own statements that ran (ScriptRun.written: not gonogo's BEGIN/COMMIT)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.statements)

    def holds(self) -> Iterator[tuple[StatementTrace, LockHold]]:
        for statement in self.statements:
            for hold in statement.locks:
                yield statement, hold

    def longest_hold(self) -> tuple[StatementTrace, LockHold] | None:
        """The longest-held lock that blocks the app, with its statement."""
        return max(((s, h) for s, h in self.holds() if h.blocks_app),
                   key=lambda item: item[1].held_seconds, default=None)

    def to_details(self) -> list[dict[str, Any]]:
        """One row per (statement, relation, mode), and one per rewrite no lock row names."""
        rows = []
        for statement in self.statements:
            base = {"file": self.file, "line": statement.line, "statement": statement.summary,
                    "statement_seconds": round(statement.seconds, 3)}
            for hold in statement.locks:
                rows.append({**base, "relation": hold.relation, "mode": hold.mode,
                             "held_seconds": round(hold.held_seconds, 3), "sampled": hold.sampled,
                             "until_commit": hold.until_commit, "role": hold.role,
                             "blocks": hold.blocks, "blocks_app": hold.blocks_app,
                             "rewritten": hold.relation in statement.rewrites})
            locked = {hold.relation for hold in statement.locks}
            for relation in statement.rewrites:
                if relation not in locked:
                    rows.append({**base, "relation": relation, "mode": "", "held_seconds": None,
                                 "sampled": False, "role": "", "blocks": "", "blocks_app": False,
                                 "rewritten": True})
        return rows

    def writes(self) -> Iterator[tuple[StatementTrace, TableWrite]]:
        for statement in self.statements:
            for write in statement.writes:
                yield statement, write

    def summary(self) -> list[str]:
        """Per traced statement, one line: each relation's strongest lock (the other end of a foreign
        key named as such), then the rows it wrote of each table, a whole-table write named as one."""
        lines = []
        for statement in self.statements:
            strongest: dict[str, LockHold] = {}
            for hold in statement.locks:
                if not hold.new and (hold.relation not in strongest or locks.strongest(
                        [hold.mode, strongest[hold.relation].mode]) == hold.mode):
                    strongest[hold.relation] = hold
            shown = list(strongest.values())
            if not shown and not statement.writes:
                continue
            parts = [f"{h.mode} on {h.relation}" + (f" ({h.role})" if h.role else "")
                     + (" (sampled)" if h.sampled else "") for h in shown]
            parts += [("WHOLE-TABLE WRITE: " if w.whole_table else "wrote ") + w.describe() for w in statement.writes]
            lines.append(f"{self.file} line {statement.line} ({statement.summary}): " + "; ".join(parts))
        return lines


def trace_script(conn: psycopg.Connection, script: SqlFile, *, observer: Target, log: Log = print,
                 policy: RetryPolicy | None = None, before_commit=None) -> TracedRun:
    """Run a migration file as run_script does, recording each statement's locks and rewrites.
    observer: the same database, for the session that samples statements which cannot run in
    a transaction block (opened only if the file has one). A failing statement raises the
    same ScriptError as run_script, and the session is left usable."""
    tracer = _Tracer(conn, observer, log)
    try:
        run = run_script(conn, script, log, execute=tracer.execute, policy=policy, before_commit=before_commit)
    finally:
        tracer.close()
    traces = [ran.outcome for ran in run.statements]  # the attempts that went through, once each
    for trace, ran in zip(traces, run.statements):
        trace.notices = ran.notices
    return TracedRun(file=run.file, statements=traces, tally=run.tally, written=run.written)


@dataclass(frozen=True)
class _Relation:
    name: str
    relkind: str
    relfilenode: int


_Relations = dict[int, _Relation]


_ForeignKeys = set[tuple[str, int, int]]  # (name, referencing oid, referenced oid)


@dataclass
class _FileTransaction:
    """The file's own BEGIN ... COMMIT while it is open: its locks, each with its start and the
    time the trace had spent measuring rows by then (not a time the migration holds locks for)."""

    before: _Relations
    last: _Relations
    holds: dict[tuple[int, str], tuple[LockHold, float, float]] = field(default_factory=dict)
    measuring: float = 0.0


@dataclass(frozen=True)
class _Target:
    """A table an UPDATE or DELETE names, resolved before it runs."""

    oid: int
    relation: str
    table: sql.Composable  # as the statement names it, for the count
    verb: str              # UPDATE | DELETE


@dataclass
class _PendingWrites:
    targets: list[_Target]
    counters: dict[int, tuple[int, int, int]]  # statistics before: updated, deleted, inserted


class _Tracer:
    def __init__(self, conn: psycopg.Connection, observer: Target, log: Log):
        self.conn = conn
        self.observer = observer
        self.log = log
        self._transaction: _FileTransaction | None = None
        self._observer_conn: psycopg.Connection | None = None

    def execute(self, conn: psycopg.Connection, statement: Statement) -> StatementTrace:
        """Run one statement as run_script's `execute`, and return its trace."""
        if isinstance(statement.node, _UNTRACED):
            return self._untraced(statement)
        if self._transaction is not None:
            return self._in_transaction(statement)
        if needs_autocommit(statement):
            return self._sampled(statement, self._relations())
        return self._on_its_own(statement)

    def close(self) -> None:
        if self._observer_conn is not None:
            self._observer_conn.close()

    # -- the four ways a statement runs -----------------------------------------------------------

    def _untraced(self, statement: Statement) -> StatementTrace:
        opens = opens_transaction(statement) and self.conn.info.transaction_status == pq.TransactionStatus.IDLE
        before = self._relations() if opens else None
        started = time.monotonic()
        execute_statement(self.conn, statement)
        ended = time.monotonic()
        trace = StatementTrace(statement.line, statement.summary(), ended - started, method="untraced")
        status = self.conn.info.transaction_status
        if before is not None and status == pq.TransactionStatus.INTRANS:
            self._transaction = _FileTransaction(before=before, last=before)
        elif self._transaction is not None and status == pq.TransactionStatus.IDLE:
            measuring = self._transaction.measuring
            for hold, began, measured in self._transaction.holds.values():  # COMMIT or ROLLBACK released them
                hold.held_seconds = ended - began - (measuring - measured)
            self._log_holds((hold for hold, _, _ in self._transaction.holds.values()), "until COMMIT: ")
            self._transaction = None
        return trace

    def _in_transaction(self, statement: Statement) -> StatementTrace:
        transaction = self._transaction
        keys = self._foreign_keys()
        pending = self._pending_writes(statement)
        started = time.monotonic()
        cursor = execute_statement(self.conn, statement)
        seconds = time.monotonic() - started
        after = self._relations()
        trace = StatementTrace(statement.line, statement.summary(), seconds,
                               rewrites=_rewrites(transaction.last, after))
        held = self._own_locks({**transaction.before, **transaction.last})
        roles = _roles(held, keys | self._foreign_keys(), {**transaction.before, **after})
        for oid, relation, mode, locktype in held:
            if (oid, mode) not in transaction.holds:
                hold = _hold(relation, mode, locktype, 0.0, new=oid not in transaction.before, role=roles.get(oid, ""))
                hold.until_commit = True
                transaction.holds[(oid, mode)] = (hold, started, transaction.measuring)
                trace.locks.append(hold)
        transaction.last = after
        measuring = time.monotonic()
        trace.writes = self._writes(statement, pending, cursor)  # counted in the file's transaction, as it was then
        transaction.measuring += time.monotonic() - measuring
        return trace

    def _on_its_own(self, statement: Statement) -> StatementTrace:
        before = self._relations()
        keys = self._foreign_keys()
        pending = self._pending_writes(statement)
        self.conn.execute("BEGIN")
        started = time.monotonic()
        try:
            cursor = execute_statement(self.conn, statement)
        except psycopg.Error as exc:
            if exc.sqlstate not in _NOT_IN_BLOCK_SQLSTATES:
                raise  # run_script rolls the transaction back and reports the error
            self.conn.execute("ROLLBACK")  # nothing of it stayed: run it as written (its notices repeat)
            return self._sampled(statement, before)
        seconds = time.monotonic() - started
        held = self._own_locks(before)
        after = self._relations()
        self.conn.execute("COMMIT")
        held_for = time.monotonic() - started
        roles = _roles(held, keys | self._foreign_keys(), {**before, **after})
        trace = StatementTrace(statement.line, statement.summary(), seconds, rewrites=_rewrites(before, after),
                               locks=[_hold(relation, mode, locktype, held_for, new=oid not in before,
                                            role=roles.get(oid, ""))
                                      for oid, relation, mode, locktype in held])
        trace.writes = self._writes(statement, pending, cursor)  # after the COMMIT: the count holds no lock of it
        self._log_holds(trace.locks, "")
        self._log_writes(trace.writes)
        return trace

    def _sampled(self, statement: Statement, before: _Relations) -> StatementTrace:
        keys = self._foreign_keys()
        pending = self._pending_writes(statement)
        with _LockPoller(self._observer(), self.conn.info.backend_pid, before) as poller:
            started = time.monotonic()
            cursor = execute_statement(self.conn, statement)
            seconds = time.monotonic() - started
        if poller.error is not None:
            raise GonogoError(f"the session sampling the locks of line {statement.line} failed: {poller.error}")
        after = self._relations()
        seen = [(oid, relation, mode, locktype) for (oid, mode), (relation, locktype, _, _) in poller.seen.items()]
        roles = _roles(seen, keys | self._foreign_keys(), {**before, **after})
        trace = StatementTrace(statement.line, statement.summary(), seconds, rewrites=_rewrites(before, after),
                               method="sampled",
                               locks=[_hold(after[oid].name if oid in after else relation, mode, locktype,
                                            last - first, new=oid not in before, sampled=True, role=roles.get(oid, ""))
                                      for (oid, mode), (relation, locktype, first, last) in poller.seen.items()])
        # It ran outside a transaction block: a DO block here COMMITs, so its rounds are batched.
        trace.writes = self._writes(statement, pending, cursor, batched=True)
        self._log_holds(trace.locks, "sampled: ")
        self._log_writes(trace.writes)
        return trace

    # -- rows written ---------------------------------------------------------------------------

    def _pending_writes(self, statement: Statement) -> _PendingWrites | None:
        """The tables the statement's UPDATEs and DELETEs name, resolved before it runs; for a DO
        block (no row count) the statistics' counters of those tables too."""
        targets = []
        for node in statement.nodes():
            if isinstance(node, _WRITES) and (target := self._resolve(node)) is not None:
                if target.oid not in {t.oid for t in targets}:
                    targets.append(target)
        if not targets:
            return None
        counters = self._counters([t.oid for t in targets]) if isinstance(statement.node, ast.DoStmt) else {}
        return _PendingWrites(targets, counters)

    def _resolve(self, node) -> _Target | None:
        rangevar = node.relation
        parts = [p for p in (rangevar.catalogname, rangevar.schemaname, rangevar.relname) if p]
        table = sql.Identifier(*parts)
        row = self.conn.execute(query("locktrace.sql", "resolve"), {"name": table.as_string(self.conn)}).fetchone()
        if row is None:
            return None
        if not rangevar.inh:
            table = sql.SQL("ONLY {}").format(table)
        return _Target(row[0], row[1], table, "UPDATE" if isinstance(node, ast.UpdateStmt) else "DELETE")

    def _counters(self, oids: list[int]) -> dict[int, tuple[int, int, int]]:
        rows = self.conn.execute(query("locktrace.sql", "rows_written"), {"oids": oids}).fetchall()
        return {oid: (updated, deleted, inserted) for oid, updated, deleted, inserted in rows}

    def _writes(self, statement: Statement, pending: _PendingWrites | None, cursor,
                batched: bool = False) -> list[TableWrite]:
        """Rows written per target table, against the rows it had before the statement."""
        if pending is None:
            return []
        if not isinstance(statement.node, ast.DoStmt):
            [target] = pending.targets
            rows = cursor.rowcount if cursor is not None else -1
            if rows <= 0:
                return []  # wrote nothing, or a status without a count
            deleted = rows if target.verb == "DELETE" else 0
            return [self._against_table(target, rows, deleted, 0, batched=False, counted_by="row count")]
        after = self._counters([t.oid for t in pending.targets])
        writes = []
        for target in pending.targets:
            if target.oid not in after or target.oid not in pending.counters:
                continue  # dropped by the block
            updated, deleted, inserted = (a - b for a, b in zip(after[target.oid], pending.counters[target.oid]))
            if updated + deleted > 0:
                writes.append(self._against_table(target, updated + deleted, deleted, inserted,
                                                  batched=batched, counted_by="statistics"))
        return writes

    def _against_table(self, target: _Target, rows: int, deleted: int, inserted: int, *, batched: bool,
                       counted_by: str) -> TableWrite:
        """The table's rows before the statement: the rows it has now, plus those deleted, minus
        those inserted, counted only up to what makes rows ÷ table reach WHOLE_TABLE_RATIO."""
        limit = max(int(rows / WHOLE_TABLE_RATIO + 1e-9) - deleted + inserted, 0) + 1  # 4500 / 0.9 is 5000
        count = sql.SQL(query("locktrace.sql", "rows_up_to")).format(table=target.table)
        if self.conn.info.transaction_status == pq.TransactionStatus.INTRANS:
            # Inside the file's transaction the count's ACCESS SHARE would be held to its COMMIT
            # and read as the next statement's: a rolled-back savepoint releases it.
            self.conn.execute("SAVEPOINT gonogo_locktrace_count")
            counted = self.conn.execute(count, {"limit": limit}).fetchone()[0]
            self.conn.execute("ROLLBACK TO SAVEPOINT gonogo_locktrace_count")
            self.conn.execute("RELEASE SAVEPOINT gonogo_locktrace_count")
        else:
            counted = self.conn.execute(count, {"limit": limit}).fetchone()[0]
        return TableWrite(relation=target.relation, rows=rows, table_rows=counted + deleted - inserted,
                          more_than=counted >= limit, batched=batched, counted_by=counted_by)

    # -- reading the catalog ------------------------------------------------------------------

    def _relations(self) -> _Relations:
        rows = self.conn.execute(query("locktrace.sql", "relations")).fetchall()
        return {oid: _Relation(name, relkind, relfilenode) for oid, name, relkind, relfilenode in rows}

    def _foreign_keys(self) -> _ForeignKeys:
        return {(name, referencing, referenced)
                for name, referencing, referenced in self.conn.execute(query("locktrace.sql", "foreign_keys"))}

    def _own_locks(self, known: _Relations) -> list[tuple[int, str, str, str]]:
        return _read_locks(self.conn, self.conn.info.backend_pid, known)

    def _observer(self) -> psycopg.Connection:
        if self._observer_conn is None or self._observer_conn.closed:
            self._observer_conn = self.observer.connect("locktrace/observer")
        return self._observer_conn

    def _log_holds(self, holds: Iterable[LockHold], prefix: str) -> None:
        for hold in holds:
            if not hold.new:
                role = f" ({hold.role})" if hold.role else ""
                self.log(f"    {prefix}{hold.mode} on {hold.relation}{role} for {hold.held_seconds:.3f} s")

    def _log_writes(self, writes: Iterable[TableWrite]) -> None:
        for write in writes:
            self.log(f"    {'WHOLE-TABLE WRITE: ' if write.whole_table else 'wrote '}{write.describe()}")


def _read_locks(conn: psycopg.Connection, pid: int, known: _Relations) -> list[tuple[int, str, str, str]]:
    """(oid, relation, mode, locktype) of the relation locks `pid` holds. A relation the reader
    cannot name (dropped meanwhile: regclass prints its oid) is named from `known`."""
    rows = conn.execute(query("locktrace.sql", "backend_locks"), {"pid": pid}).fetchall()
    return [(oid, known[oid].name if oid in known and name in (None, str(oid)) else name or str(oid),
             locks.normalize(mode), locktype)
            for oid, name, mode, locktype in rows]


def _hold(relation: str, mode: str, locktype: str, held: float, *, new: bool, sampled: bool = False,
          role: str = "") -> LockHold:
    return LockHold(relation=relation, mode=mode, locktype=locktype, held_seconds=held, sampled=sampled,
                    blocks=_NEW if new else locks.blocks(mode), new=new, role=role)


def _roles(held: Iterable[tuple[int, str, str, str]], keys: _ForeignKeys, names: _Relations) -> dict[int, str]:
    """{oid: its end of a foreign key} for the tables at both ends of a foreign key the statement
    locked (one it adds, drops, or checks): keys read before and after it, so a dropped or an
    added key counts."""
    locked = {oid for oid, *_ in held}
    roles: dict[int, str] = {}
    for name, referencing, referenced in sorted(keys):
        if referencing == referenced or not {referencing, referenced} <= locked:
            continue
        source = names[referencing].name if referencing in names else str(referencing)
        target = names[referenced].name if referenced in names else str(referenced)
        roles.setdefault(referenced, f"the referenced table of foreign key {name} on {source}")
        roles.setdefault(referencing, f"holds foreign key {name}, which references {target}")
    return roles


def _rewrites(before: _Relations, after: _Relations) -> list[str]:
    """Relations that existed before and have new storage now: tables first."""
    changed = [rel for oid, rel in after.items()
               if oid in before and before[oid].relfilenode and rel.relfilenode != before[oid].relfilenode]
    return [rel.name for rel in sorted(changed, key=lambda r: (r.relkind != "r", r.name))]


class _LockPoller:
    """A thread that polls one backend's relation locks from the observer session."""

    def __init__(self, observer: psycopg.Connection, pid: int, known: _Relations,
                 interval: float = LOCK_POLL_SECONDS):
        self.observer, self.pid, self.known, self.interval = observer, pid, known, interval
        self.seen: dict[tuple[int, str], tuple[str, str, float, float]] = {}
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="locktrace-sampler", daemon=True)

    def __enter__(self) -> _LockPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                rows = _read_locks(self.observer, self.pid, self.known)
                now = time.monotonic()
                for oid, relation, mode, locktype in rows:
                    first = self.seen.get((oid, mode), (relation, locktype, now, now))[2]
                    self.seen[(oid, mode)] = (relation, locktype, first, now)
                self._stop.wait(self.interval)
        except psycopg.Error as exc:
            self.error = str(exc).strip() or type(exc).__name__


def lock_budget(traced_runs: Sequence[TracedRun], *, budget_seconds: float, phase: str,
                subject: str) -> GateResult:
    """FAIL if a statement held a lock that blocks the app (SHARE or stronger) longer than the
    budget; each such statement is named with its file, line, relation, mode and seconds."""
    blocking = [(run, statement, hold) for run in traced_runs for statement, hold in run.holds()
                if hold.blocks_app]
    over = sorted((item for item in blocking if item[2].held_seconds > budget_seconds),
                  key=lambda item: -item[2].held_seconds)
    details = [row for run in traced_runs for row in run.to_details()]
    threshold = f"SHARE or stronger held at most {budget_seconds:g} s"
    if over:
        named = "; ".join(_describe(*item) for item in over[:3])
        more = f" (and {len(over) - 3} more)" if len(over) > 3 else ""
        hold = over[0][2]
        return GateResult(
            gate="lock_budget", title="No long locks (lock budget)", phase=phase, subject=subject,
            verdict=Verdict.FAIL, value=f"{hold.held_seconds:.2f} s ({hold.mode} on {hold.relation})",
            threshold=threshold,
            message=f"{len(over)} lock(s) over the {budget_seconds:g} s budget, the app waits that long: {named}{more}",
            hint=("hold the lock for less time: build indexes CONCURRENTLY, add constraints NOT VALID and "
                  "VALIDATE them in their own transaction, avoid rewrites (ALTER COLUMN TYPE, VACUUM FULL) "
                  "of big tables, keep explicit transactions short; or run the step in a maintenance window"),
            details=details)
    longest = max(blocking, key=lambda item: item[2].held_seconds, default=None)
    return GateResult(
        gate="lock_budget", title="No long locks (lock budget)", phase=phase, subject=subject,
        verdict=Verdict.PASS, value=f"{longest[2].held_seconds:.3f} s" if longest else "0 s",
        threshold=threshold,
        message=(f"the longest lock that blocks the app: {_describe(*longest)}" if longest
                 else "no statement took a lock that blocks the app"),
        details=details)


_BATCH_HINT = ("batch it by key ranges in a DO-block loop that COMMITs each batch, each batch its own "
               "transaction: DO $$ DECLARE lo bigint := 0; hi bigint; BEGIN LOOP SELECT max(id) INTO hi FROM "
               "(SELECT id FROM t WHERE id > lo ORDER BY id LIMIT 1000) AS b; EXIT WHEN hi IS NULL; "
               "UPDATE t SET ... WHERE id > lo AND id <= hi; lo := hi; COMMIT; END LOOP; END $$")


def whole_table_writes(traced_runs: Sequence[TracedRun], *, phase: str, subject: str) -> GateResult | None:
    """WARN when a statement updated or deleted at least WHOLE_TABLE_RATIO of a table's rows in
    one transaction, as measured (whatever its WHERE looks like): every row it wrote stays locked
    until it commits and the long transaction holds back VACUUM. A DO block that COMMITs its
    rounds is reported with its total, as batched. None when the traces wrote no rows."""
    writes = [(run, statement, write) for run in traced_runs for statement, write in run.writes()]
    if not writes:
        return None
    whole = [item for item in writes if item[2].whole_table]
    largest = max(writes, key=lambda item: (not item[2].batched, item[2].ratio or 0))[2]
    threshold = f"no statement writes {WHOLE_TABLE_RATIO:.0%} or more of a table's rows in one transaction"
    details = [{"file": run.file, "line": statement.line, "statement": statement.summary,
                "seconds": round(statement.seconds, 3), **write.to_dict()} for run, statement, write in writes]
    batched = [item for item in writes if item[2].batched]
    loops = ("; batched: " + "; ".join(_write(*item) for item in batched[:3])) if batched else ""
    if whole:
        named = "; ".join(_write(*item) for item in whole[:3])
        more = f" (and {len(whole) - 3} more)" if len(whole) > 3 else ""
        return GateResult(
            gate="whole_table_write", title="No whole-table write in one transaction", phase=phase,
            subject=subject, verdict=Verdict.WARN, threshold=threshold, details=details,
            value=f"{whole[0][2].rows} of {whole[0][2].table_rows} rows of {whole[0][2].relation}",
            message=(f"{len(whole)} whole-table write(s), measured: {named}{more}; each row it writes stays "
                     f"locked until it commits (the app's writes to those rows wait) and the long transaction "
                     f"holds back VACUUM{loops}"),
            hint=_BATCH_HINT)
    return GateResult(
        gate="whole_table_write", title="No whole-table write in one transaction", phase=phase, subject=subject,
        verdict=Verdict.PASS, threshold=threshold, details=details,
        value=f"{largest.rows} of {'more than ' if largest.more_than else ''}{largest.table_rows} rows of "
              f"{largest.relation}" + (" (batched)" if largest.batched else ""),
        message=f"every UPDATE and DELETE wrote less than {WHOLE_TABLE_RATIO:.0%} of its table in one "
                f"transaction: {'; '.join(_write(*item) for item in writes[:3])}"
                + (f" (and {len(writes) - 3} more)" if len(writes) > 3 else ""))


def _write(run: TracedRun, statement: StatementTrace, write: TableWrite) -> str:
    return f"{run.file} line {statement.line} ({statement.summary}) wrote {write.describe()}"


def _describe(run: TracedRun, statement: StatementTrace, hold: LockHold) -> str:
    role = f" ({hold.role})" if hold.role else ""
    return (f"{run.file} line {statement.line} ({statement.summary}) held {hold.mode} on {hold.relation}{role} "
            f"for {hold.held_seconds:.3f} s{' (sampled)' if hold.sampled else ''}"
            f"{', to the COMMIT of its transaction' if hold.until_commit else ''}, blocking {hold.blocks}")


# -- what the app felt --------------------------------------------------------------------------

@dataclass
class LockWait:
    """One lock wait of a watched session, as sampled."""

    pid: int
    application: str
    relation: str
    mode: str
    locktype: str
    query: str
    started: dt.datetime
    last_seen: dt.datetime
    blockers: list[dict[str, Any]] = field(default_factory=list)  # pid, application, query

    @property
    def seconds(self) -> float:
        return (self.last_seen - self.started).total_seconds()

    @property
    def blocking_pids(self) -> list[int]:
        return [b["pid"] for b in self.blockers]

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "application": self.application, "relation": self.relation,
                "mode": self.mode, "seconds": round(self.seconds, 3), "blocking_pids": self.blocking_pids,
                "blocked_by": "; ".join(_blocker(b) for b in self.blockers),
                "query": " ".join(self.query.split())[:200]}


class WaitSampler:
    """Poll, every ~20 ms from the observer session, the locks the watched backends wait for
    (pg_locks not granted, pg_blocking_pids). watch_pids: a set of pids, or a callable that
    returns the current ones (a Workload's pids grow when a client reconnects)."""

    def __init__(self, observer: Target, watch_pids: set[int] | Callable[[], Iterable[int]],
                 interval: float = WAIT_POLL_SECONDS):
        self.observer = observer
        self._watch = watch_pids if callable(watch_pids) else (lambda: watch_pids)
        self.interval = interval
        self.waits: list[LockWait] = []
        self.error: str | None = None
        self._active: dict[tuple, LockWait] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection | None = None

    def __enter__(self) -> WaitSampler:
        self._conn = self.observer.connect("locktrace/waits")
        self._thread = threading.Thread(target=self._run, name="locktrace-waits", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._conn is not None:
            self._conn.close()
        if self.error is not None and exc_type is None:
            raise GonogoError(f"the lock-wait sampler's session failed, the waits are incomplete: {self.error}")

    @property
    def longest(self) -> LockWait | None:
        return max(self.waits, key=lambda w: w.seconds, default=None)

    @property
    def longest_wait_seconds(self) -> float:
        return self.longest.seconds if self.waits else 0.0

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._poll()
                self._stop.wait(self.interval)
            self._poll()
        except psycopg.Error as exc:
            self.error = str(exc).strip() or type(exc).__name__

    def _poll(self) -> None:
        pids = sorted(set(self._watch()))
        if not pids:
            return
        rows = self._conn.execute(query("locktrace.sql", "lock_waits"), {"pids": pids}).fetchall()
        active: dict[tuple, LockWait] = {}
        for pid, application, locktype, mode, relation, waitstart, seen, text, blockers in rows:
            key = (pid, locktype, relation, mode)
            wait = self._active.get(key)
            if wait is None or (waitstart is not None and waitstart > wait.last_seen):
                wait = LockWait(pid=pid, application=application, relation=relation, mode=_mode(mode),
                                locktype=locktype, query=text or "", started=waitstart or seen, last_seen=seen)
                self.waits.append(wait)
            wait.last_seen = seen
            if waitstart is not None and waitstart < wait.started:
                wait.started = waitstart
            known = set(wait.blocking_pids)
            wait.blockers.extend(b for b in blockers if b["pid"] not in known)
            active[key] = wait
        self._active = active


def lock_waits(sampler: WaitSampler, *, threshold_seconds: float, phase: str, subject: str,
               traced_runs: Sequence[TracedRun] = ()) -> GateResult:
    """FAIL if an app query waited for a lock longer than the threshold. With the traces of the
    migration that ran meanwhile, the statement that held the conflicting lock is named."""
    longest = sampler.longest
    details = [w.to_dict() for w in sorted(sampler.waits, key=lambda w: -w.seconds)]
    threshold = f"at most {threshold_seconds:g} s"
    if longest is None or longest.seconds <= threshold_seconds:
        return GateResult(
            gate="lock_waits", title="App queries never waited long on a lock", phase=phase, subject=subject,
            verdict=Verdict.PASS, value=f"{longest.seconds:.3f} s" if longest else "0 s", threshold=threshold,
            message=(f"the longest wait of an app query was {longest.seconds:.3f} s, for {longest.mode} "
                     f"on {longest.relation}" if longest else "no app query waited for a lock"),
            details=details)
    holder = _holder(longest, traced_runs)
    blocked_by = "; ".join(_blocker(b, traced=holder is not None) for b in longest.blockers) or \
        "a backend that had ended by the next sample"
    taken = (f"; the lock was taken by {holder[0].file} line {holder[1].line} ({holder[1].summary}), "
             f"{holder[2].mode} held {holder[2].held_seconds:.2f} s" if holder else "")
    return GateResult(
        gate="lock_waits", title="App queries never waited long on a lock", phase=phase, subject=subject,
        verdict=Verdict.FAIL, value=f"{longest.seconds:.2f} s ({longest.mode} on {longest.relation})",
        threshold=threshold,
        message=(f"an app query (pid {longest.pid}) waited {longest.seconds:.2f} s for {longest.mode} on "
                 f"{longest.relation}, blocked by {blocked_by}{taken}"),
        hint=("the migration holds (or queues for) a lock the app needs: hold it for less time (CONCURRENTLY, "
              "NOT VALID then VALIDATE, no rewrites, short transactions) and keep lock_timeout low so that a "
              "statement waiting for its lock gives up instead of queueing the app behind it"),
        details=details)


def _mode(mode: str) -> str:
    """A lock mode in the docs' spelling; one that is not a table-level mode stays as it is."""
    try:
        return locks.normalize(mode)
    except ValueError:
        return mode


def _blocker(blocker: dict[str, Any], *, traced: bool = False) -> str:
    """A blocking session; gonogo's own, when the trace names the statement that took the lock, by
    that (what it ran when sampled may be gonogo's catalog read later in the same transaction)."""
    application = blocker.get("application") or "no application_name"
    if traced and application.startswith("gonogo/"):
        return f"pid {blocker['pid']} ({application}: the migration's session)"
    text = " ".join((blocker.get("query") or "").split())
    return f"pid {blocker['pid']} ({application}: {text[:120]})"


def _holder(wait: LockWait, traced_runs: Sequence[TracedRun]):
    """The traced statement whose lock on the waited-for relation conflicts with the wait."""
    candidates = [(run, statement, hold) for run in traced_runs for statement, hold in run.holds()
                  if hold.relation == wait.relation and wait.mode in locks.conflicts(hold.mode)]
    return max(candidates, key=lambda item: item[2].held_seconds, default=None)
