"""Lock safety in one place: how long a statement may wait for a lock, and how it is retried.

While a DDL statement waits for its lock, every app query that needs a conflicting lock
queues behind it; lock_timeout bounds that wait, so it bounds how long the app can stall.
A statement that times out (SQLSTATE 55P03, and only that) is retried after an exponential
backoff with jitter, a bounded number of times: between attempts the app runs freely.

Statements whose locks never block the app's reads or writes (CREATE/DROP INDEX
CONCURRENTLY, VALIDATE CONSTRAINT: SHARE UPDATE EXCLUSIVE) get their own, longer lock
timeout: CONCURRENTLY must wait for every older transaction in the database, and nobody
queues behind it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import psycopg
from pglast import ast, enums

from gonogo.statements import Statement

LOCK_NOT_AVAILABLE = "55P03"
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

    def backoff(self, attempt: int, rng: random.Random = random) -> float:
        """Seconds to wait after failed attempt `attempt` (1-based)."""
        base = min(self.max_backoff, self.first_backoff * 2 ** (attempt - 1))
        return base * rng.uniform(1 - self.jitter, 1 + self.jitter)


def is_lock_timeout(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.Error) and exc.sqlstate == LOCK_NOT_AVAILABLE


def patient(statement: Statement) -> bool:
    """Does the statement only take locks the app never waits behind?"""
    node = statement.node
    if isinstance(node, (ast.IndexStmt, ast.DropStmt, ast.ReindexStmt)):
        return bool(getattr(node, "concurrent", False) or getattr(node, "params", None) and any(
            getattr(p, "defname", "") == "concurrently" for p in node.params))
    if isinstance(node, ast.AlterTableStmt):
        return all(cmd.subtype == enums.AlterTableType.AT_ValidateConstraint for cmd in node.cmds or ())
    return False


def with_retries(action: Callable[[], T], policy: RetryPolicy, *, what: str,
                 log: Callable[[str], None] = print, sleep: Callable[[float], None] = time.sleep) -> T:
    """Run action(); on a lock timeout, back off and run it again, up to policy.attempts times.
    action must leave the session clean (no aborted transaction) when it raises."""
    for attempt in range(1, policy.attempts + 1):
        try:
            return action()
        except psycopg.Error as exc:
            if not is_lock_timeout(exc) or attempt == policy.attempts:
                raise
            delay = policy.backoff(attempt)
            log(f"    lock not available for {what} (attempt {attempt}/{policy.attempts}): "
                f"retrying in {delay:.2f} s, the app runs meanwhile")
            sleep(delay)
    raise AssertionError("unreachable")
