"""Seed 5.5: every table the batch needs is there (fail fast on schema drift)."""

from __future__ import annotations

import psycopg

from gonogo.batch import Batch
from gonogo.results import GateResult, Verdict
from gonogo.postgres.sqlfile import query


def required_tables(conn: psycopg.Connection, batch: Batch, *, phase: str = "preflight") -> GateResult:
    needed = batch.tables_needed()
    present = {row[0] for row in conn.execute(query("catalog.sql", "existing_tables"), {"names": needed})}
    missing = [t for t in needed if t not in present]
    return GateResult(
        gate="required_tables", title="Required tables present", phase=phase,
        verdict=Verdict.PASS if not missing else Verdict.FAIL,
        value=f"{len(needed) - len(missing)} of {len(needed)} present",
        threshold=f"all {len(needed)} present",
        message=("every table the manifest requires or the migrations touch exists" if not missing
                 else f"missing: {', '.join(missing)} — schema drift"),
        hint="" if not missing else "the database is not the schema this batch was written for: "
                                    "fix the drift (or the manifest) before going on",
        details=[{"table": t, "present": t in present} for t in needed])
