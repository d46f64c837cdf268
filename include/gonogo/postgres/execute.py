"""Run a migration script the way psql -f would, one statement at a time, and say
precisely where and why it failed.

The session is in autocommit: each statement is its own transaction unless the file
opens one with BEGIN, which is what CREATE INDEX CONCURRENTLY and a separate VALIDATE
CONSTRAINT need. A failed statement inside an explicit transaction rolls that
transaction back before the error is raised, so the session is never left aborted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg import pq

from gonogo.errors import GonogoError
from gonogo.postgres.indexes import builds_index_concurrently, recover_invalid_index
from gonogo.apply.progress import index_build
from gonogo.postgres.retry import RetryPolicy, Tally, patient, run_unit
from gonogo.postgres.sqlfile import SqlFile
from gonogo.postgres.statements import Statement, closes_transaction, opens_transaction

Log = Callable[[str], None]
Execute = Callable[[psycopg.Connection, Statement], object]

_HINTS = {
    "55P03": ("a lock could not be taken within lock_timeout, on every attempt: another session holds a "
              "conflicting lock on the table (look in pg_locks / pg_stat_activity); retry when it ends"),
    "40P01": ("a deadlock with another session on every attempt: the app takes the same locks in the other "
              "order; run the step when that transaction is not running, or take its locks in the app's order"),
    "57014": "the statement ran past statement_timeout; raise it for this step or run it off-peak",
    "23505": "duplicate rows block the unique constraint: remove them first (the preflight gates name them)",
    "23503": "rows reference missing parents: clean the orphans first (the orphan integrity gate names them)",
    "23514": "rows violate the CHECK constraint: fix them first (the precondition gates name them)",
    "25001": "this statement cannot run inside a transaction block: move it out of BEGIN ... COMMIT",
    # the server ended the session: what it said is the reason; the file's open transaction was rolled back
    "57P01": ("an administrator ended this session (pg_terminate_backend) or the server is shutting down: "
              "ask who, then run again (the history resumes the step)"),
    "57P02": "the server crashed and is restarting: when it is back, run again (the history resumes the step)",
    "57P03": "the server is starting or in recovery: wait until it accepts connections, then run again",
    "08006": ("the connection to the server broke (a crash, a restart, a network device): when it is back, "
              "run again (the history resumes the step)"),
}


@dataclass
class StatementRun:
    line: int
    summary: str
    seconds: float
    notices: list[str] = field(default_factory=list)
    attempts: int = 1  # of its unit: its block's, when it ran in one
    outcome: object = None  # what run_script's `execute` returned (the lock trace's StatementTrace)
    implicit: bool = False  # the BEGIN/COMMIT gonogo wraps a one-transaction file in: not the file's


@dataclass
class ScriptRun:
    file: str
    statements: list[StatementRun] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)  # lock timeouts, deadlocks, autovacuums met over all units

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.statements)

    @property
    def written(self) -> int:
        """How many of the file's own statements ran (not the BEGIN/COMMIT gonogo added)."""
        return sum(not s.implicit for s in self.statements)


class ScriptError(GonogoError):
    def __init__(self, message: str, *, run: ScriptRun, line: int, sqlstate: str | None):
        super().__init__(message)
        self.run = run
        self.line = line
        self.sqlstate = sqlstate


def execute_statement(conn: psycopg.Connection, statement: Statement) -> psycopg.Cursor:
    """How run_script sends one statement: as it is, in the session's autocommit. The cursor
    carries its command status (the lock trace reads an UPDATE's row count from it)."""
    return conn.execute(statement.sql, prepare=False)


def run_script(conn: psycopg.Connection, script: SqlFile, log: Log = lambda _: None, *,
               execute: Execute = execute_statement, policy: RetryPolicy | None = None,
               before_commit: Callable[[psycopg.Connection], None] | None = None) -> ScriptRun:
    """Run the file as its mode says (SqlFile.as_run): statement by statement, or in one
    transaction. `execute` sends one statement (the lock trace wraps it to watch its locks);
    what it returns is kept as the statement's outcome, for the attempt that went through.
    Whatever it raises is reported here, the one place a SQL error becomes a ScriptError.

    The file runs as units (gonogo.postgres.retry.run_unit): a statement on its own, or a BEGIN ...
    COMMIT block whole. With a retry policy, each statement runs under the policy's
    lock_timeout (its patient one for CONCURRENTLY and VALIDATE), and a unit that times out on
    a lock or loses a deadlock is run again with backoff. Before a CREATE INDEX CONCURRENTLY,
    an invalid leftover of that index is dropped; an index build that takes long logs its
    progress (gonogo.apply.progress).

    before_commit(conn) records the file as applied (gonogo's history, the migration tool's own
    table): inside the file's last transaction, right before its COMMIT, when the file ends in
    one — so a row there always means the file's changes committed with it — else after the
    last statement. Before a closing ROLLBACK (a rehearsal, sqlfile.rolled_back) it reads what
    the transaction did before it is undone.
    """
    conn.autocommit = True
    run = ScriptRun(file=script.path.name)
    notices: list[str] = []
    statements = script.as_run
    last = len(statements) - 1
    ends_closed = bool(statements) and closes_transaction(statements[-1])
    saved_timeout = conn.execute("SELECT current_setting('lock_timeout')").fetchone()[0] if policy else None
    state = {"timeout": saved_timeout, "recorded": False, "failed": None}
    unit_policy = policy or RetryPolicy(attempts=1, cancel_autovacuum=False)

    def on_notice(diag) -> None:
        notices.append(diag.message_primary or "")
        log(f"    NOTICE: {diag.message_primary}")

    def run_statement(i: int, in_block: bool) -> None:
        statement = statements[i]
        state["failed"] = statement
        log(f"  {script.path.name}:{statement.line}: {statement.summary()}")
        notices.clear()
        started = time.monotonic()
        if policy:
            wanted = policy.patient_lock_timeout if patient(statement) else policy.lock_timeout
            if wanted != state["timeout"]:
                conn.execute("SELECT set_config('lock_timeout', %s, false)", [wanted])
                state["timeout"] = wanted
        recording = bool(i == last and ends_closed and before_commit and in_block)
        if recording:
            before_commit(conn)
        if index := builds_index_concurrently(statement):
            recover_invalid_index(conn, index, log)
        with index_build(conn, statement, log):
            outcome = execute(conn, statement)
        seconds = time.monotonic() - started
        state["recorded"] = state["recorded"] or recording
        run.statements.append(StatementRun(statement.line, statement.summary(), seconds, list(notices),
                                           attempts=run.tally.attempts, outcome=outcome,
                                           implicit=statement.implicit))
        attempts = run.tally.attempts
        log(f"    done in {seconds:.3f} s" + (f" after {attempts} attempts" if attempts > 1 else ""))

    def unit(first: int, end: int, kept: int) -> None:
        del run.statements[kept:]  # what an earlier attempt of this unit ran was rolled back
        try:
            for i in range(first, end):
                run_statement(i, in_block=opens_transaction(statements[first]))
        except psycopg.Error:
            state["timeout"] = None  # a SET inside a rolled-back block is undone with it
            raise

    conn.add_notice_handler(on_notice)
    try:
        first = 0
        while first < len(statements):
            end = _unit_end(statements, first)
            what = (f"the transaction at line {statements[first].line}" if opens_transaction(statements[first])
                    else f"line {statements[first].line}")
            kept = len(run.statements)
            try:
                run_unit(conn, lambda: unit(first, end, kept), unit_policy, what=what, log=log, tally=run.tally)
            except psycopg.Error as exc:
                raise _script_error(script, state["failed"], exc, run, attempts=run.tally.attempts) from exc
            first = end
    finally:
        conn.remove_notice_handler(on_notice)
        if saved_timeout is not None and conn.info.transaction_status == pq.TransactionStatus.IDLE:
            conn.execute("SELECT set_config('lock_timeout', %s, false)", [saved_timeout])
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        conn.execute("ROLLBACK")
        raise ScriptError(f"{script.path.name} opens a transaction (BEGIN) and never commits it; "
                          f"it was rolled back. Add COMMIT at the end of the transaction.",
                          run=run, line=statements[-1].line, sqlstate=None)
    if before_commit and not state["recorded"]:
        try:
            before_commit(conn)
        except psycopg.Error as exc:
            raise _script_error(script, statements[-1], exc, run, attempts=1) from exc
    return run


def _unit_end(statements: list[Statement], first: int) -> int:
    """Where the unit that starts at `first` ends (exclusive): after the statement that closes
    the transaction a BEGIN opens (the end of the file if none does), else right after it."""
    if not opens_transaction(statements[first]):
        return first + 1
    for i in range(first + 1, len(statements)):
        if closes_transaction(statements[i]):
            return i + 1
    return len(statements)


def _script_error(script: SqlFile, statement: Statement, exc: psycopg.Error, run: ScriptRun,
                  attempts: int) -> ScriptError:
    sqlstate = exc.sqlstate
    primary = exc.diag.message_primary or str(exc).strip()
    hint = _HINTS.get(sqlstate or "", exc.diag.message_hint or "")
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    message = (f"{script.path.name} line {statement.line} failed{tries} (SQLSTATE {sqlstate}): {primary}"
               + (f" — {exc.diag.message_detail}" if exc.diag.message_detail else "")
               + (f". What to do: {hint}" if hint else ""))
    return ScriptError(message, run=run, line=statement.line, sqlstate=sqlstate)
