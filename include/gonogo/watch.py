"""The watch window after a rollout: production polled until the window closes.

What this version measures: objects on the batch's tables staying valid (an index or
constraint gone invalid is a FAIL), deadlocks during the window, and sessions waiting on
locks at each poll. Each poll opens its own guarded session, so a 48-hour window never
holds a connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gonogo.context import RunContext
from gonogo.results import GateResult, Verdict
from gonogo.sqlfile import query

Log = Callable[[str], None]


def watch(ctx: RunContext, *, hours: float, log: Log = print,
          sleep: Callable[[float], None] = time.sleep) -> list[GateResult]:
    """Poll every minute (a tenth of a short window) until `hours` have passed."""
    target, batch, app, guards = ctx.production, ctx.batch, ctx.app, ctx.guards
    seconds = hours * 3600
    interval = min(60.0, max(seconds / 10, 0.5))
    tables = batch.tables_needed()
    deadline = time.monotonic() + seconds
    polls, invalid_seen, most_waiting, longest_wait = 0, {}, 0, 0.0
    first = last = None
    while True:
        with target.connect(app, guards) as conn:
            counters = conn.execute(query("catalog.sql", "database_counters")).fetchone()
            first = first or counters
            last = counters
            for kind, name, table in conn.execute(query("catalog.sql", "invalid_objects"), {"tables": tables}):
                invalid_seen.setdefault(f"{kind} {name} on {table}", polls)
            waiting, longest = conn.execute(query("catalog.sql", "lock_waiters")).fetchone()
        polls += 1
        most_waiting, longest_wait = max(most_waiting, waiting), max(longest_wait, float(longest))
        left = deadline - time.monotonic()
        log(f"watch: poll {polls}, {len(invalid_seen)} invalid objects, {waiting} sessions waiting on locks, "
            f"{max(left, 0) / 3600:.2f} h left")
        if left <= 0:
            break
        sleep(min(interval, left))
    deadlocks = last[2] - first[2]
    window = f"{polls} polls over {seconds / 3600:.2f} h"
    return [
        GateResult(gate="watch_objects_valid", title="Indexes and constraints stay valid", phase="watch",
                   verdict=Verdict.PASS if not invalid_seen else Verdict.FAIL,
                   value=f"{len(invalid_seen)} invalid objects", threshold="0", subject=window,
                   message=("every index and constraint on the batch's tables stayed valid" if not invalid_seen
                            else "invalid: " + ", ".join(invalid_seen)),
                   hint="" if not invalid_seen else "rebuild the invalid index (REINDEX CONCURRENTLY) or "
                                                    "decide to roll back",
                   details=[{"object": k, "first_seen_at_poll": v} for k, v in invalid_seen.items()]),
        GateResult(gate="watch_deadlocks", title="No new deadlocks", phase="watch", subject=window,
                   verdict=Verdict.PASS if deadlocks == 0 else Verdict.WARN,
                   value=f"{deadlocks} deadlocks", threshold="0",
                   message=f"pg_stat_database counted {deadlocks} deadlocks during the window",
                   hint="" if not deadlocks else "read the server log for the deadlocked statements"),
        GateResult(gate="watch_lock_waits", title="No sessions waiting on locks", phase="watch", subject=window,
                   verdict=Verdict.PASS if most_waiting == 0 else Verdict.WARN,
                   value=f"at most {most_waiting} waiting, longest {longest_wait:.1f} s", threshold="0 waiting",
                   message=("no session of the database waited on a lock at any poll" if not most_waiting
                            else f"up to {most_waiting} sessions waited on locks at a poll"),
                   hint="" if not most_waiting else "look at pg_locks / pg_blocking_pids for the blockers"),
    ]
