"""The data allows a step, measured right before it runs: no duplicates for a unique key it
adds, no rows violating a CHECK it adds, and its own precheck query (e.g. every category can
be mapped) returns nothing. Each failure names the table, the count and a few example keys.

Measured before each step rather than once before the batch: an earlier step (a backfill)
changes what a later one (a cutover CHECK) will find.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from gonogo.authoring.additions import checks, foreign_keys, unique_keys
from gonogo.batch import Batch, Step
from gonogo.postgres.problems import problems, size
from gonogo.results import GateResult, Verdict
from gonogo.postgres.sqlfile import query
from gonogo.postgres.statements import added_columns, created_tables


def preconditions(conn: psycopg.Connection, step: Step, *, phase: str, batch: Batch | None = None) -> list[GateResult]:
    """The data against what the step adds; empty when it adds nothing whose data can be
    checked beforehand. A key or CHECK on a table or column the step itself creates has no rows
    yet: nothing to measure. With the batch: the foreign keys the preflight orphans gate left to
    this moment (they involve a table or column the batch creates) as an orphan_integrity result."""
    statements = list(step.forward.statements)
    new_tables, new_columns = created_tables(statements), added_columns(statements)

    def existing(table: str, columns) -> bool:
        return table not in new_tables and not any((table, c) in new_columns for c in columns)

    found = []
    if batch is not None:
        from gonogo.gates.orphan_integrity import deferred, new_table_row, orphan_result, orphans

        if later := [fk for fk in foreign_keys(statements) if deferred(fk, batch)]:
            found.append(orphan_result(
                [orphans(conn, fk) if existing(fk.table, fk.columns) and fk.ref_table not in new_tables
                 else new_table_row(fk) for fk in later], phase=phase, subject=step.name))
    rows = [*(_duplicates(conn, key) for key in unique_keys(statements) if existing(key.table, key.columns)),
            *(_violations(conn, check) for check in checks(statements) if existing(check.table, check.columns))]
    if step.precheck:
        offending = problems(conn, step.precheck)
        rows.append({"check": step.precheck.path.name,
                     "table": ", ".join(sorted({str(p.get("table", "")) for p in offending} - {""})),
                     "count": sum(size(p) for p in offending),
                     "examples": [" ".join(f"{k}={v}" for k, v in p.items()) for p in offending[:5]]})
    if not rows:
        return found
    bad = [r for r in rows if r["count"]]
    return [*found, GateResult(
        gate="preconditions", title="Data meets the new constraints", phase=phase, subject=step.name,
        verdict=Verdict.FAIL if bad else Verdict.PASS,
        value=f"{sum(r['count'] for r in bad)} offending rows in {len(bad)} of {len(rows)} checks",
        threshold="0 offending rows",
        message=("; ".join(f"{r['check']}: {r['count']} in {r['table']}, e.g. {', '.join(map(str, r['examples'][:3]))}"
                           for r in bad[:4]) if bad else f"all {len(rows)} checks find no offending row"),
        hint="" if not bad else "fix or remove the offending rows first; the step would fail on them",
        details=rows)]


def example_key(conn: psycopg.Connection, table: str, alias: str | None = None) -> sql.Composable:
    """An expression naming a row of `table` for the report: its primary key as text, or its ctid."""
    columns = [row[0] for row in conn.execute(query("catalog.sql", "primary_key_columns"), {"table": table})]
    prefix = sql.SQL(f"{alias}.") if alias else sql.SQL("")
    if not columns:
        return prefix + sql.SQL("ctid::text")
    return sql.SQL(" || ',' || ").join(prefix + sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns)


def _duplicates(conn: psycopg.Connection, key) -> dict:
    cols = sql.SQL(", ").join(map(sql.Identifier, key.columns))
    not_null = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in key.columns)
    statement = sql.SQL(
        "SELECT count(*), coalesce(sum(n), 0), (array_agg(k ORDER BY k))[1:5] FROM ("
        "SELECT concat_ws(',', {cols}) AS k, count(*) AS n FROM {table} {where} GROUP BY {cols} HAVING count(*) > 1) d"
    ).format(cols=cols, table=sql.Identifier(key.table),
             where=sql.SQL("WHERE ") + not_null if key.nulls_distinct else sql.SQL(""))
    groups, rows, examples = conn.execute(statement).fetchone()
    return {"check": f"unique {key.name}", "table": key.table, "count": int(rows),
            "duplicate_groups": groups, "examples": [f"({', '.join(key.columns)}) = ({e})" for e in examples or []]}


def _violations(conn: psycopg.Connection, check) -> dict:
    # The expression is the batch's own CHECK, parsed and deparsed by pglast; a row violates
    # a CHECK when the expression is false (NULL passes).
    statement = sql.SQL("SELECT count(*), (array_agg({key} ORDER BY {key}))[1:5] FROM {table} "
                        "WHERE ({expr}) IS FALSE").format(
        key=example_key(conn, check.table), table=sql.Identifier(check.table), expr=sql.SQL(check.expression))
    count, examples = conn.execute(statement).fetchone()
    return {"check": f"check {check.name}", "table": check.table, "count": int(count),
            "examples": [f"key {e}" for e in examples or []]}
