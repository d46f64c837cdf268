"""One rollout at a time per database: gonogo's rollout lock.

Two parts. A run takes the database's lease (gonogo.rollout_lease, one row) before its backup and
gives it back when its production phase and watch window are over, however they ended (an
Airflow setup/teardown pair): between its tasks, no other run may start on the database. And
every production session that changes the schema holds gonogo's advisory lock for its whole
work, refusing to start if another run holds the lease. A second rollout (another run, another
Airflow, a colleague's gonogo) fails at once and is told which run holds it, from the lease or
the holder's application_name (gonogo/<run key>/<task>), what it is doing and how to end it. A
session a dead task of the same run left behind is ended (end_orphans).
"""

from __future__ import annotations

import contextlib
import hashlib
import time

import psycopg

from gonogo.errors import StepFailed
from gonogo.postgres.execute import Log
from gonogo.postgres.sqlfile import query

ORPHAN_WAIT_SECONDS = 5.0  # after pg_cancel_backend, before pg_terminate_backend

# Advisory lock key (two int4): "gono" / "go" in ASCII. Advisory locks are per database.
CLASSID, OBJID = 0x676F6E6F, 0x676F


def run_key(run_id: str) -> str:
    """A run's short name in application_name (gonogo/<key>/<task>): a run id such as
    manual__2026-12-06T20:10:41.321859+00:00 with a task id overflows the 63 characters PostgreSQL
    keeps, which cut the task's name. gonogo's events map it back to the run (run_of)."""
    return "r" + hashlib.sha256(run_id.encode()).hexdigest()[:9]


def run_of(conn: psycopg.Connection, key: str) -> str | None:
    """The run id whose key this is, from the runs production's audit trail knows."""
    if not conn.execute(query("history.sql", "exists")).fetchone()[0]:
        return None
    return next((run for (run,) in conn.execute(query("history.sql", "run_ids")) if run_key(run) == key), None)


def _session(conn: psycopg.Connection, pid, app, since, state, query_start, text) -> str:
    parts = (app or "").split("/")
    if len(parts) > 2 and parts[0] == "gonogo":
        run = run_of(conn, parts[1]) or parts[1]
        who = f"run {run} (task {'/'.join(parts[2:])})"
    else:
        who = f"session '{app or 'unnamed'}'"
    doing = (f"{state} since {query_start}: {' '.join((text or '').split())[:120]}" if state == "active"
             else f"{state or 'unknown state'}")
    return f"{who}, backend pid {pid}, connected since {since}, {doing}"


def holder(conn: psycopg.Connection) -> str | None:
    row = conn.execute(query("history.sql", "rollout_lock_holder"), {"classid": CLASSID, "objid": OBJID}).fetchone()
    if row is None:
        return None
    pid, app, since, client, state, query_start, text = row
    return (_session(conn, pid, app, since, state, query_start, text) + f", from {client or 'local socket'}. "
            f"If that task is no longer running in Airflow (its worker died), end the session: "
            f"SELECT pg_terminate_backend({pid});")


def end_orphans(conn: psycopg.Connection, run_id: str, log: Log = print,
                wait_seconds: float = ORPHAN_WAIT_SECONDS) -> list[dict]:
    """End the sessions of this run other than this one: within a run the tasks that touch
    production run one after another, so a session of the run still there when the next one
    starts was left by a task that died (kill -9, OOM, a lost node) — and the server goes on
    with its statement (a CREATE INDEX CONCURRENTLY builds on), holding the rollout lock. Each
    is cancelled, then terminated if it is still there after `wait_seconds`; what was done is
    logged and returned (for the events, the report and Slack)."""
    ended = []
    for pid, app, since, state, query_start, text in conn.execute(
            query("history.sql", "run_sessions"), {"prefix": f"gonogo/{run_key(run_id)}/"}).fetchall():
        what = _session(conn, pid, app, since, state, query_start, text)
        how = "cancelled"
        conn.execute("SELECT pg_cancel_backend(%s)", [pid])
        if not _gone(conn, pid, wait_seconds):
            conn.execute("SELECT pg_terminate_backend(%s)", [pid])
            how = "terminated" if _gone(conn, pid, wait_seconds) else "still running after pg_terminate_backend"
        log(f"   a session a dead task of this run left on production: {what} — {how}")
        ended.append({"pid": pid, "application_name": app, "session": what, "ended": how})
    return ended


def _gone(conn: psycopg.Connection, pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while conn.execute(query("history.sql", "session_alive"), {"pid": pid}).fetchone()[0]:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@contextlib.contextmanager
def exclusive(conn: psycopg.Connection, step: str = "production", run_id: str | None = None):
    """Hold the rollout lock for the duration; fail fast, naming the holder, if it is taken: by
    another session now, or by another run's lease (run_id: this run's; none: any lease)."""
    if not conn.execute("SELECT pg_try_advisory_lock(%s, %s)", [CLASSID, OBJID]).fetchone()[0]:
        raise StepFailed(
            f"another gonogo rollout is working on this database: {holder(conn) or 'a session that just ended'}. "
            f"One rollout at a time: wait for it to finish (or fail it in Airflow), then clear this task. "
            f"Nothing was changed by this run.", step=step, before_changes=True)
    try:
        if (held := lease(conn)) and held["run_id"] != run_id:
            raise StepFailed(_leased(held), step=step, before_changes=True)
        yield
    finally:
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", [CLASSID, OBJID])


def check_free(conn: psycopg.Connection, step: str = "check_session_guards", run_id: str | None = None) -> None:
    """Fail fast at the start of the production phase if another rollout holds the lock."""
    with exclusive(conn, step, run_id):
        pass


def lease(conn: psycopg.Connection) -> dict | None:
    """The run holding the database's lease ({run_id, batch, taken_at}), or None."""
    if not conn.execute(query("history.sql", "lease_exists")).fetchone()[0]:
        return None
    row = conn.execute(query("history.sql", "lease")).fetchone()
    return dict(zip(("run_id", "batch", "taken_at"), row)) if row else None


def take_lease(conn: psycopg.Connection, run_id: str, batch_id: str, step: str = "take_rollout_lock") -> bool:
    """This run holds the database until release_lease, across its tasks; True when it took it now
    (False: it held it already, a cleared task taking it again). Fails, naming the holder, when
    another run holds it. The gonogo schema must exist (history.ensure)."""
    with exclusive(conn, step, run_id):
        took = conn.execute(query("history.sql", "take_lease"), {"run_id": run_id, "batch": batch_id}).rowcount == 1
        if (held := lease(conn)) and held["run_id"] != run_id:
            raise StepFailed(_leased(held), step=step, before_changes=True)
        return took


def release_lease(conn: psycopg.Connection, run_id: str) -> bool:
    """Give the database back; False when this run did not hold it."""
    if not conn.execute(query("history.sql", "lease_exists")).fetchone()[0]:
        return False
    return conn.execute(query("history.sql", "release_lease"), {"run_id": run_id}).fetchone() is not None


def _leased(held: dict) -> str:
    return (f"another gonogo rollout holds this database: run {held['run_id']} of batch {held['batch']}, since "
            f"{held['taken_at']:%Y-%m-%d %H:%M:%S %Z} (its production phase or watch window is not over). One rollout "
            f"at a time: wait for that run to end; if it has ended without giving the database back (a run marked "
            f"failed by hand skips its teardown), clear its production.release_rollout_lock task in Airflow, or "
            f"DELETE FROM gonogo.rollout_lease WHERE run_id = '{held['run_id']}'. Nothing was changed by this run.")
