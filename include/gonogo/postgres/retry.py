"""Lock safety in one place: how long a unit of work may wait for a lock, and how it is retried.

A unit is one statement, or one BEGIN ... COMMIT block (a file run in one transaction is one
block), or one batch of a backfill. The apply, the dry run's trace, the rollbacks and the
backfill all run their units through run_unit, and nothing else retries.

While a DDL statement waits for its lock, every app query that needs a conflicting lock
queues behind it; lock_timeout bounds that wait, so it bounds how long the app can stall.
A unit that times out on a lock (SQLSTATE 55P03) or is chosen as a deadlock's victim (40P01:
the server has already rolled it back) is run again whole after an exponential backoff with
jitter, a bounded number of times: between attempts the app runs freely.

Autovacuum: it gives up its lock only to a request that has waited deadlock_timeout (1 s),
which a 200 ms attempt never does, so a slow autovacuum would outlast every attempt. Once an
attempt of a unit has failed, a second session watches what its next attempts wait for
(pg_blocking_pids): an autovacuum worker is canceled (pg_cancel_backend; it starts again
later) and the waiting attempt takes the lock at once. An anti-wraparound autovacuum never
yields: it is named, and waited for with the same short attempts. Canceling needs
pg_signal_backend (or superuser); without it gonogo says so and waits.

Statements whose locks never block the app's reads or writes (CREATE/DROP INDEX
CONCURRENTLY, VALIDATE CONSTRAINT: SHARE UPDATE EXCLUSIVE) get their own, longer lock
timeout: CONCURRENTLY must wait for every older transaction in the database, and nobody
queues behind it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from pglast import ast, enums
from psycopg import pq

from gonogo.apply.progress import sibling_conninfo
from gonogo.postgres.sqlfile import query
from gonogo.postgres.statements import Statement

LOCK_NOT_AVAILABLE = "55P03"
DEADLOCK = "40P01"
RETRIED = {LOCK_NOT_AVAILABLE: "lock not available", DEADLOCK: "deadlock detected"}
WATCH_POLL_SECONDS = 0.03  # how often a waiting attempt's blockers are read: well inside one attempt
WRAPAROUND = "(to prevent wraparound)"
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """lock_timeout: per attempt, for statements that block the app while they wait;
    patient_lock_timeout: for those that do not (CONCURRENTLY, VALIDATE).

    Short attempts, many of them: the app's worst wait is one attempt (200 ms, within a 300 ms
    budget), and a statement stuck behind a long transaction waits between attempts instead,
    where nobody queues behind it. max_backoff bounds how late the step runs after the blocker
    ends (at most 1.5 × 2 s with jitter); 60 attempts outlast a blocker of about 2 minutes
    (0.25 + 0.5 + 1 + 57 × 2 s of backoff, 60 × 0.2 s of attempts; tests/bench/test_bench_locks.py).
    The session's own lock_timeout (the seed's 2 s) stays the ceiling for everything else."""

    lock_timeout: str = "200ms"
    patient_lock_timeout: str = "10min"
    attempts: int = 60
    first_backoff: float = 0.25
    max_backoff: float = 2.0
    jitter: float = 0.5  # each backoff is scaled by a random factor in [1 - jitter, 1 + jitter]
    cancel_autovacuum: bool = True  # cancel an autovacuum (not an anti-wraparound one) that blocks a retry

    def backoff(self, attempt: int, rng: random.Random = random) -> float:
        """Seconds to wait after failed attempt `attempt` (1-based)."""
        base = min(self.max_backoff, self.first_backoff * 2 ** (attempt - 1))
        return base * rng.uniform(1 - self.jitter, 1 + self.jitter)


def is_lock_timeout(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.Error) and exc.sqlstate == LOCK_NOT_AVAILABLE


def retried(exc: BaseException) -> bool:
    """Does run_unit run the unit again after this error?"""
    return isinstance(exc, psycopg.Error) and exc.sqlstate in RETRIED


def patient(statement: Statement) -> bool:
    """Does the statement only take locks the app never waits behind?"""
    node = statement.node
    if isinstance(node, (ast.IndexStmt, ast.DropStmt, ast.ReindexStmt)):
        return bool(getattr(node, "concurrent", False) or getattr(node, "params", None) and any(
            getattr(p, "defname", "") == "concurrently" for p in node.params))
    if isinstance(node, ast.AlterTableStmt):
        return all(cmd.subtype == enums.AlterTableType.AT_ValidateConstraint for cmd in node.cmds or ())
    return False


@dataclass
class Tally:
    """What running units took: the last unit's attempts, why failed attempts failed, and what
    gonogo did about an autovacuum in the way (each a dict: pid, query, action)."""

    attempts: int = 1
    lock_timeouts: int = 0  # failed attempts, the last one included when it failed too
    deadlocks: int = 0
    retried: int = 0        # failed attempts that were run again
    autovacuum: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        """'' when every unit went through at once; else what they met, for a log or a report."""
        parts = []
        if self.lock_timeouts:
            parts.append(f"{self.lock_timeouts} lock timeout{'s' if self.lock_timeouts > 1 else ''}")
        if self.deadlocks:
            parts.append(f"{self.deadlocks} deadlock{'s' if self.deadlocks > 1 else ''}")
        parts += [f"autovacuum pid {a['pid']} {a['action']}" for a in self.autovacuum]
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"lock_timeouts": self.lock_timeouts, "deadlocks": self.deadlocks, "retried": self.retried,
                "autovacuum": self.autovacuum}


def run_unit(conn: psycopg.Connection, action: Callable[[], T], policy: RetryPolicy, *, what: str,
             log: Callable[[str], None] = print, tally: Tally | None = None,
             sleep: Callable[[float], None] = time.sleep) -> T:
    """Run action(), one unit of work on conn; on a lock timeout or a deadlock, roll back what
    it left open, back off and run it again, up to policy.attempts times. Any error leaves the
    session out of a transaction; the last one is raised. `tally` (read it after a failure too)
    counts the attempts and why they failed; pass the same one to count over many units."""
    tally = tally if tally is not None else Tally()
    watch: _AutovacuumWatch | None = None
    try:
        for attempt in range(1, policy.attempts + 1):
            tally.attempts = attempt
            try:
                return action()
            except psycopg.Error as exc:
                if conn.info.transaction_status != pq.TransactionStatus.IDLE:
                    try:
                        conn.execute("ROLLBACK")
                    except psycopg.Error:
                        raise exc from None  # the session is gone: the server's reason is the first error
                if exc.sqlstate == DEADLOCK:
                    tally.deadlocks += 1
                elif exc.sqlstate == LOCK_NOT_AVAILABLE:
                    tally.lock_timeouts += 1
                if not retried(exc) or attempt == policy.attempts:
                    raise
                tally.retried += 1
                delay = policy.backoff(attempt)
                log(f"    {RETRIED[exc.sqlstate]} for {what} (attempt {attempt}/{policy.attempts}): again in "
                    f"{delay:.2f} s; the app runs meanwhile")
                if watch is None and policy.cancel_autovacuum:
                    watch = _AutovacuumWatch(conn, log, tally)
                sleep(delay)
    finally:
        if watch is not None:
            watch.stop()
    raise AssertionError("unreachable")


def autovacuum_action(text: str) -> str:
    """What gonogo does about an autovacuum worker that blocks it, from its query text."""
    return "waited for (to prevent wraparound)" if WRAPAROUND in text else "canceled"


def can_cancel_autovacuum(conn: psycopg.Connection) -> tuple[str, bool]:
    """(the session's role, whether it may cancel an autovacuum worker)."""
    role, allowed = conn.execute(query("retry.sql", "can_cancel_autovacuum")).fetchone()
    return role, bool(allowed)


class _AutovacuumWatch:
    """A session of its own that reads, while the unit's attempts run, which sessions the
    unit's backend waits for; it cancels an autovacuum worker among them (once per pid) and
    names an anti-wraparound one. Closed when the unit ends, also when it fails."""

    def __init__(self, conn: psycopg.Connection, log: Callable[[str], None], tally: Tally):
        self.conninfo, self.pid = sibling_conninfo(conn, "/locks"), conn.info.backend_pid
        self.log, self.tally = log, tally
        self._seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gonogo-autovacuum-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            with psycopg.connect(self.conninfo, autocommit=True) as conn:
                while not self._stop.is_set():
                    for pid, text in conn.execute(query("retry.sql", "autovacuum_blockers"),
                                                  {"pid": self.pid}).fetchall():
                        if pid not in self._seen:
                            self._seen.add(pid)
                            self._meet(conn, pid, text or "autovacuum")
                    self._stop.wait(WATCH_POLL_SECONDS)
        except psycopg.Error as exc:  # the unit goes on with its plain attempts
            self.log(f"    (autovacuum is not watched: {str(exc).strip() or type(exc).__name__})")

    def _meet(self, conn: psycopg.Connection, pid: int, text: str) -> None:
        action = autovacuum_action(text)
        if action == "canceled":
            try:
                conn.execute(query("retry.sql", "cancel"), {"pid": pid})
            except psycopg.errors.InsufficientPrivilege:
                role = conn.execute("SELECT current_user").fetchone()[0]
                action = f"not canceled: role {role} may not (GRANT pg_signal_backend TO {role})"
                self.log(f"    {text} (pid {pid}) blocks the step and role {role} may not cancel it: GRANT "
                         f"pg_signal_backend TO {role}; waiting for it with short attempts")
            else:
                self.log(f"    {text} (pid {pid}) blocked the step: canceled it (it runs again later), "
                         f"the step takes its lock now")
        else:
            self.log(f"    {text} (pid {pid}) blocks the step: an anti-wraparound vacuum never yields its "
                     f"lock; waiting for it with short attempts, the app runs in between")
        self.tally.autovacuum.append({"pid": pid, "query": text, "action": action})
