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

from gonogo.batch import SqlFile
from gonogo.errors import GonogoError
from gonogo.statements import Statement

Log = Callable[[str], None]
Execute = Callable[[psycopg.Connection, Statement], None]

_HINTS = {
    "55P03": ("a lock could not be taken within lock_timeout: another session holds a conflicting "
              "lock on the table (look in pg_locks / pg_stat_activity); retry when it ends"),
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


def execute_statement(conn: psycopg.Connection, statement: Statement) -> None:
    """How run_script sends one statement: as it is, in the session's autocommit."""
    conn.execute(statement.sql, prepare=False)


def run_script(conn: psycopg.Connection, script: SqlFile, log: Log = lambda _: None, *,
               execute: Execute = execute_statement) -> ScriptRun:
    """Run the file statement by statement. `execute` sends one statement (the lock trace
    wraps it to watch its locks); whatever it raises is reported here, the one place a SQL
    error becomes a ScriptError."""
    conn.autocommit = True
    run = ScriptRun(file=script.path.name)
    notices: list[str] = []

    def on_notice(diag) -> None:
        notices.append(diag.message_primary or "")
        log(f"    NOTICE: {diag.message_primary}")

    conn.add_notice_handler(on_notice)
    try:
        for statement in script.statements:
            log(f"  {script.path.name}:{statement.line}: {statement.summary()}")
            notices.clear()
            started = time.monotonic()
            try:
                execute(conn, statement)
            except psycopg.Error as exc:
                if conn.info.transaction_status != pq.TransactionStatus.IDLE:
                    conn.execute("ROLLBACK")
                sqlstate = exc.sqlstate
                primary = exc.diag.message_primary or str(exc).strip()
                hint = _HINTS.get(sqlstate or "", exc.diag.message_hint or "")
                message = (f"{script.path.name} line {statement.line} failed "
                           f"(SQLSTATE {sqlstate}): {primary}"
                           + (f" — {exc.diag.message_detail}" if exc.diag.message_detail else "")
                           + (f". What to do: {hint}" if hint else ""))
                raise ScriptError(message, run=run, line=statement.line, sqlstate=sqlstate) from exc
            seconds = time.monotonic() - started
            run.statements.append(StatementRun(statement.line, statement.summary(), seconds, list(notices)))
            log(f"    done in {seconds:.3f} s")
    finally:
        conn.remove_notice_handler(on_notice)
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        conn.execute("ROLLBACK")
        raise ScriptError(f"{script.path.name} opens a transaction (BEGIN) and never commits it; "
                          f"it was rolled back. Add COMMIT at the end of the transaction.",
                          run=run, line=script.statements[-1].line, sqlstate=None)
    return run

