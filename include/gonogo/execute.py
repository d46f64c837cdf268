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
from gonogo.indexes import builds_index_concurrently, recover_invalid_index
from gonogo.progress import index_build
from gonogo.retry import RetryPolicy, is_lock_timeout, patient
from gonogo.sqlfile import SqlFile
from gonogo.statements import Statement, closes_transaction, commits_transaction, opens_transaction

Log = Callable[[str], None]
Execute = Callable[[psycopg.Connection, Statement], object]

_HINTS = {
    "55P03": ("a lock could not be taken within lock_timeout, on every attempt: another session holds a "
              "conflicting lock on the table (look in pg_locks / pg_stat_activity); retry when it ends"),
    "57014": "the statement ran past statement_timeout; raise it for this step or run it off-peak",
    "23505": "duplicate rows block the unique constraint: remove them first (the preflight gates name them)",
    "23503": "rows reference missing parents: clean the orphans first (the orphan integrity gate names them)",
    "23514": "rows violate the CHECK constraint: fix them first (the precondition gates name them)",
    "25001": "this statement cannot run inside a transaction block: move it out of BEGIN ... COMMIT",
}


@dataclass
class StatementRun:
    line: int
    summary: str
    seconds: float
    notices: list[str] = field(default_factory=list)
    attempts: int = 1


@dataclass
class ScriptRun:
    file: str
    statements: list[StatementRun] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.statements)


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
    whatever it raises is reported here, the one place a SQL error becomes a ScriptError.

    With a retry policy, each statement runs under the policy's lock_timeout (its patient one
    for CONCURRENTLY and VALIDATE), and a lock timeout is retried with backoff: a statement
    on its own alone, a statement inside a BEGIN ... COMMIT with its whole block.
    Before a CREATE INDEX CONCURRENTLY, an invalid leftover of that index is dropped; an index
    build that takes long logs its progress (gonogo.progress).

    before_commit(conn) records the file as applied (gonogo's history, the migration tool's own
    table): inside the file's last transaction, right before its COMMIT, when the file ends in
    one — so a row there always means the file's changes committed with it — else after the
    last statement.
    """
    conn.autocommit = True
    run = ScriptRun(file=script.path.name)
    notices: list[str] = []
    statements = script.as_run
    last = len(statements) - 1
    ends_in_commit = bool(statements) and commits_transaction(statements[-1])
    recorded = False
    saved_timeout = conn.execute("SELECT current_setting('lock_timeout')").fetchone()[0] if policy else None
    current_timeout = saved_timeout

    def on_notice(diag) -> None:
        notices.append(diag.message_primary or "")
        log(f"    NOTICE: {diag.message_primary}")

    conn.add_notice_handler(on_notice)
    try:
        i, block_start, kept, attempt = 0, None, 0, 1
        while i < len(statements):
            statement = statements[i]
            recording = False
            if opens_transaction(statement):
                block_start, kept = i, len(run.statements)
            log(f"  {script.path.name}:{statement.line}: {statement.summary()}")
            notices.clear()
            started = time.monotonic()
            try:
                if policy:
                    wanted = policy.patient_lock_timeout if patient(statement) else policy.lock_timeout
                    if wanted != current_timeout:
                        conn.execute("SELECT set_config('lock_timeout', %s, false)", [wanted])
                        current_timeout = wanted
                recording = i == last and ends_in_commit and before_commit and block_start is not None
                if recording:
                    before_commit(conn)
                if index := builds_index_concurrently(statement):
                    recover_invalid_index(conn, index, log)
                with index_build(conn, statement, log):
                    execute(conn, statement)
            except psycopg.Error as exc:
                if conn.info.transaction_status != pq.TransactionStatus.IDLE:  # the file's or a tracer's
                    conn.execute("ROLLBACK")
                    current_timeout = None  # a SET inside the aborted block is undone with it
                in_block = block_start is not None
                if policy and is_lock_timeout(exc) and attempt < policy.attempts:
                    delay = policy.backoff(attempt)
                    unit = f"the transaction at line {statements[block_start].line}" if in_block else f"line {statement.line}"
                    log(f"    lock not available (attempt {attempt}/{policy.attempts}): {unit} again in "
                        f"{delay:.2f} s; the app runs meanwhile")
                    time.sleep(delay)
                    attempt += 1
                    if in_block:
                        i, block_start = block_start, None
                        del run.statements[kept:]
                    continue
                raise _script_error(script, statement, exc, run, attempts=attempt) from exc
            seconds = time.monotonic() - started
            recorded = recorded or bool(recording)
            run.statements.append(StatementRun(statement.line, statement.summary(), seconds, list(notices),
                                               attempts=attempt))
            log(f"    done in {seconds:.3f} s" + (f" after {attempt} attempts" if attempt > 1 else ""))
            if closes_transaction(statement):
                block_start = None
            if block_start is None:
                attempt = 1
            i += 1
    finally:
        conn.remove_notice_handler(on_notice)
        if saved_timeout is not None and conn.info.transaction_status == pq.TransactionStatus.IDLE:
            conn.execute("SELECT set_config('lock_timeout', %s, false)", [saved_timeout])
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        conn.execute("ROLLBACK")
        raise ScriptError(f"{script.path.name} opens a transaction (BEGIN) and never commits it; "
                          f"it was rolled back. Add COMMIT at the end of the transaction.",
                          run=run, line=statements[-1].line, sqlstate=None)
    if before_commit and not recorded:
        try:
            before_commit(conn)
        except psycopg.Error as exc:
            raise _script_error(script, statements[-1], exc, run, attempts=1) from exc
    return run


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
