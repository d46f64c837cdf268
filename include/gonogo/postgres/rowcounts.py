"""Exact row counts of the application's tables (seed: "Verify row counts unchanged")."""

from __future__ import annotations

import psycopg
from psycopg import sql

from gonogo.results import GateResult, Verdict
from gonogo.postgres.sqlfile import query


def count_rows(conn: psycopg.Connection, only: set[str] | None = None) -> dict[str, int]:
    """{"schema.table": rows} counted exactly (not estimated), for every user table or only
    those named in `only`: on a large production database each count is a full scan."""
    tables = conn.execute(query("catalog.sql", "user_tables")).fetchall()
    counts = {}
    for schema, name in tables:
        if only is not None and name not in only:
            continue
        counts[f"{schema}.{name}"] = conn.execute(count_statement(schema, name)).fetchone()[0]
    return counts


def count_statement(schema: str, name: str) -> sql.Composed:
    """The count gonogo sends; gonogo.authoring.discover knows it by this text in pg_stat_statements."""
    return sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def unchanged(before: dict[str, int], after: dict[str, int], *, phase: str, subject: str,
              live_traffic: bool) -> GateResult:
    """Counts of the tables that existed before a step are equal after it (a table the step
    creates is new, not changed; one it drops is). On production the app keeps writing, so a
    change there is a WARN to look at, not proof of loss; on staging nothing else writes."""
    changed = [{"table": t, "before": before[t], "after": after.get(t)}
               for t in sorted(before) if before[t] != after.get(t)]
    if not changed:
        verdict, message = Verdict.PASS, f"row counts of {len(before)} tables unchanged"
    else:
        verdict = Verdict.WARN if live_traffic else Verdict.FAIL
        message = (f"row counts changed in {len(changed)} tables: "
                   + ", ".join(f"{c['table']} {c['before']}→{c['after']}" for c in changed[:5]))
    return GateResult(
        gate="row_counts_unchanged", title="Row counts unchanged", phase=phase, subject=subject,
        verdict=verdict, value=f"{len(changed)} tables changed", threshold="0 tables changed",
        message=message,
        hint="" if not changed else ("the app writes meanwhile: compare with its own activity"
                                     if live_traffic else "a migration step added or removed rows: read it"),
        details=changed,
    )
