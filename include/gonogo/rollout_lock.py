"""One rollout at a time per database: gonogo's advisory lock.

Every production session that changes the schema holds it for its whole work; a second
rollout (another run, another Airflow, a colleague's gonogo) fails at once and is told which
run holds it, from the holder's application_name (gonogo/<run id>/<task>).
"""

from __future__ import annotations

import contextlib

import psycopg

from gonogo.errors import StepFailed
from gonogo.sqlfile import query

# Advisory lock key (two int4): "gono" / "go" in ASCII. Advisory locks are per database.
CLASSID, OBJID = 0x676F6E6F, 0x676F


def holder(conn: psycopg.Connection) -> str | None:
    row = conn.execute(query("history.sql", "rollout_lock_holder"), {"classid": CLASSID, "objid": OBJID}).fetchone()
    if row is None:
        return None
    pid, app, since, client = row
    parts = (app or "").split("/")
    run = parts[1] if len(parts) > 2 and parts[0] == "gonogo" else None
    who = f"run {run} (task {parts[-1]})" if run else f"session '{app or 'unnamed'}'"
    return f"{who}, backend pid {pid} from {client or 'local socket'}, connected since {since}"


@contextlib.contextmanager
def exclusive(conn: psycopg.Connection, step: str = "production"):
    """Hold the rollout lock for the duration; fail fast, naming the holder, if it is taken."""
    if not conn.execute("SELECT pg_try_advisory_lock(%s, %s)", [CLASSID, OBJID]).fetchone()[0]:
        raise StepFailed(
            f"another gonogo rollout is working on this database: {holder(conn) or 'a session that just ended'}. "
            f"One rollout at a time: wait for it to finish (or fail it in Airflow), then clear this task. "
            f"Nothing was changed by this run.", step=step, before_changes=True)
    try:
        yield
    finally:
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", [CLASSID, OBJID])


def check_free(conn: psycopg.Connection, step: str = "check_session_guards") -> None:
    """Fail fast at the start of the production phase if another rollout holds the lock."""
    with exclusive(conn, step):
        pass
