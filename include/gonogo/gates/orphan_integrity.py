"""Seed 5.6: orphans = 0. For every foreign key the batch adds (read from its SQL), the
rows whose reference has no parent, plus the batch's own integrity_checks.sql (zero rows =
clean). Each failure names the table, the count and a few example keys."""

from __future__ import annotations

import dataclasses

import psycopg
from psycopg import sql

from gonogo.authoring.additions import ForeignKey, foreign_keys
from gonogo.batch import Batch
from gonogo.gates.preconditions import example_key
from gonogo.postgres.problems import size, verify
from gonogo.results import GateResult, Verdict
from gonogo.postgres.sqlfile import query


def orphan_integrity(conn: psycopg.Connection, batch: Batch, *, phase: str = "preflight") -> list[GateResult]:
    """Nothing when the batch adds no foreign key and has no integrity checks: an absent gate."""
    results = []
    fks = foreign_keys([s for step in batch.enabled_steps for s in step.forward.statements])
    later = [fk for fk in fks if deferred(fk, batch)]
    fks = [fk for fk in fks if fk not in later]
    if fks:
        results.append(orphan_result([orphans(conn, fk) for fk in fks], phase=phase,
                                     subject="foreign keys the batch adds"))
    if batch.integrity_checks is not None:
        result = verify(conn, batch.integrity_checks, phase=phase, subject=batch.integrity_checks.path.name,
                        gate="orphan_integrity", title="Orphans = 0")
        if result.failed:
            result = dataclasses.replace(
                result, value=f"{sum(size(row) for row in result.details)} orphaned rows",
                hint="clean the orphans (delete them or restore their parents) before the foreign keys "
                     "can be validated")
        results.append(result)
    return results


def orphan_result(rows: list[dict], *, phase: str, subject: str) -> GateResult:
    """The gate's result over one orphans row per foreign key (orphans() or new_table_row())."""
    bad = [r for r in rows if r["orphans"]]
    return GateResult(
        gate="orphan_integrity", title="Orphans = 0", phase=phase, subject=subject,
        verdict=Verdict.FAIL if bad else Verdict.PASS,
        value=f"{sum(r['orphans'] for r in bad)} orphaned rows", threshold="0 rows",
        message=("; ".join(f"{r['reference']}: {r['orphans']} orphans in {r['table']}, e.g. "
                           f"{', '.join(map(str, r['example_keys'][:3]))}" for r in bad)
                 if bad else f"none of the {len(rows)} new foreign keys has an orphan to reject"),
        hint="" if not bad else "delete the orphans or restore their parents: VALIDATE CONSTRAINT fails on them",
        details=rows)


def new_table_row(fk: ForeignKey) -> dict:
    """The orphans row of a foreign key on a table or column its own step creates: no row
    exists before the step, so none can be an orphan (the step itself is then the evidence)."""
    return {"reference": fk.label(), "constraint": fk.name, "table": fk.table, "orphans": 0, "example_keys": [],
            "note": "created by this step: no row before it"}


def deferred(fk: ForeignKey, batch: Batch) -> bool:
    """A foreign key on a table or column a step of the batch creates, or to a table it creates:
    before the batch there is nothing to measure; the step's preconditions measure it right
    before it runs (an empty new table has no orphans, a filled one may)."""
    tables, columns = batch.created_tables(), batch.created_columns()
    return (fk.table in tables or fk.ref_table in tables
            or any((fk.table, column) in columns for column in fk.columns))


def orphans(conn: psycopg.Connection, fk: ForeignKey) -> dict:
    ref_columns = fk.ref_columns or tuple(
        row[0] for row in conn.execute(query("catalog.sql", "primary_key_columns"), {"table": fk.ref_table}))
    matches = sql.SQL(" AND ").join(
        sql.SQL("p.{} = c.{}").format(sql.Identifier(ref), sql.Identifier(col))
        for col, ref in zip(fk.columns, ref_columns))
    present = sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(c)) for c in fk.columns)
    key = example_key(conn, fk.table, alias="c")
    statement = sql.SQL(
        "SELECT count(*), (array_agg({key} ORDER BY {key}))[1:5] FROM {child} c "
        "WHERE {present} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {matches})").format(
        key=key, child=sql.Identifier(fk.table), parent=sql.Identifier(fk.ref_table),
        present=present, matches=matches)
    count, examples = conn.execute(statement).fetchone()
    return {"reference": fk.label(), "constraint": fk.name, "table": fk.table, "orphans": int(count),
            "example_keys": list(examples or [])}
