"""Progress lines for the task log, where a step takes long and would otherwise look hung.

Sizes and durations are written the same way everywhere; `index_build` reports an index build
(CREATE INDEX / REINDEX, CONCURRENTLY or not) from pg_stat_progress_create_index while the
statement runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from pglast import ast
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from gonogo.postgres.sqlfile import query
from gonogo.postgres.statements import Statement
from gonogo.postgres.target import SessionGuards

Log = Callable[[str], None]

AFTER_SECONDS = 2.0  # a build done sooner stays one line in the log, and opens no session
EVERY_SECONDS = 2.0
_SUFFIX = "/progress"
_APP_NAME_MAX = 63  # libpq keeps NAMEDATALEN - 1 bytes


def duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def megabytes(size: int | float) -> str:
    if size < 1e3:
        return f"{size:.0f} B"
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} kB"


def rate(size: int | float, seconds: float) -> str:
    return f"{size / 1e6 / seconds:.1f} MB/s" if seconds > 0 else "— MB/s"


def builds_index(statement: Statement) -> bool:
    """Statements PostgreSQL reports in pg_stat_progress_create_index."""
    return isinstance(statement.node, (ast.IndexStmt, ast.ReindexStmt))


@contextmanager
def index_build(conn: psycopg.Connection, statement: Statement, log: Log, *,
                after: float = AFTER_SECONDS, every: float = EVERY_SECONDS) -> Iterator[None]:
    """Around a statement run on `conn`: if it builds an index and is still running after
    `after` seconds, log its phase and progress every `every` seconds, read from a session of
    its own. That session never touches `conn` and is closed before this block is left, also
    when the statement fails or is cancelled."""
    if not builds_index(statement):
        yield
        return
    poller = _IndexPoller(_progress_conninfo(conn), conn.info.backend_pid, log, after, every)
    poller.start()
    try:
        yield
    finally:
        poller.stop()
    if poller.error:
        log(f"    (no progress of the index build: {poller.error})")


def describe_index_build(row: dict, seconds: float) -> str:
    """One line from a row of progress_create_index.sql."""
    verb = "building index" if row["command"].startswith("CREATE") else "reindexing"
    line = f"    {verb} {row['index'] or 'on ' + row['table']} ({duration(seconds)}): phase '{row['phase']}'"
    for unit in ("blocks", "tuples", "lockers", "partitions"):
        done, total = row[f"{unit}_done"], row[f"{unit}_total"]
        if total:
            line += f", {unit} {done} of {total} ({100 * done / total:.0f} %)"
    if row["locker_pid"]:
        line += f", waiting for pid {row['locker_pid']}"
        if row["locker_application"]:
            line += f" ({row['locker_application']})"
    return line


def _progress_conninfo(conn: psycopg.Connection) -> str:
    return sibling_conninfo(conn, _SUFFIX)


def sibling_conninfo(conn: psycopg.Connection, suffix: str) -> str:
    """The session's own server, database and login (its callers need not know a Target),
    as gonogo/<app><suffix> with the default session guards: for a session that watches it."""
    params = conn.info.get_parameters()
    if conn.info.password:
        params["password"] = conn.info.password
    app = params.get("application_name") or "gonogo"
    params["application_name"] = app[:_APP_NAME_MAX - len(suffix)] + suffix
    params["options"] = SessionGuards().options()
    return make_conninfo(**params)


class _IndexPoller:
    def __init__(self, conninfo: str, pid: int, log: Log, after: float, every: float):
        self.conninfo, self.pid, self.log, self.after, self.every = conninfo, pid, log, after, every
        self.error: str | None = None
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gonogo-index-progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()  # the session is closed when the thread ends

    def _run(self) -> None:
        if self._stop.wait(self.after):
            return
        try:
            with psycopg.connect(self.conninfo, autocommit=True, row_factory=dict_row) as conn:
                while not self._stop.is_set():
                    row = conn.execute(query("progress_create_index.sql", "create_index"),
                                       {"pid": self.pid}).fetchone()
                    if row:
                        self.log(describe_index_build(row, time.monotonic() - self._started))
                    self._stop.wait(self.every)
        except Exception as exc:  # noqa: BLE001 - the build goes on without its progress lines
            self.error = str(exc).strip() or type(exc).__name__
