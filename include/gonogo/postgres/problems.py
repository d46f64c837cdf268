"""Check queries: one SELECT whose rows are the problems it found (zero rows = clean).

The convention every such file follows (integrity checks, a step's verify and precheck):
each row is one problem; a column `rows`, `count` or `orphans` says how many rows of data the
problem covers (1 if absent); `table` names the table when the query knows it.
"""

from __future__ import annotations

import psycopg

from gonogo.batch import SqlFile
from gonogo.results import GateResult, Verdict

_SIZE_COLUMNS = ("rows", "count", "orphans")


def problems(conn: psycopg.Connection, script: SqlFile) -> list[dict]:
    cur = conn.execute(script.statements[-1].sql, prepare=False)
    columns = [c.name for c in cur.description or ()]
    return [dict(zip(columns, map(_plain, row))) for row in cur.fetchall()]


def verify(conn: psycopg.Connection, script: SqlFile, *, phase: str, subject: str,
           gate: str = "step_verified", title: str = "Step verification") -> GateResult:
    """A verification query: zero rows means right; each row is a problem found."""
    rows = problems(conn, script)
    return GateResult(
        gate=gate, title=title, phase=phase, subject=subject,
        verdict=Verdict.PASS if not rows else Verdict.FAIL,
        value=f"{len(rows)} problem rows", threshold="0 rows",
        message=(f"{script.path.name} returned no rows" if not rows
                 else "; ".join(" ".join(f"{k}={v}" for k, v in r.items()) for r in rows[:3])),
        hint="" if not rows else f"each row of {script.path.name} names a problem to fix before going on",
        details=rows)


def size(problem: dict) -> int:
    """How many rows of data one problem row covers."""
    for column in _SIZE_COLUMNS:
        if isinstance(problem.get(column), int):
            return problem[column]
    return 1


def _plain(value):
    """A column value as JSON keeps it (results travel through XCom): arrays stay lists (of ids,
    say), NULL stays None, anything else (numeric, timestamp) becomes its text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)
