"""Seed 5.6: the batch's integrity checks return zero rows (no orphaned references)."""

from __future__ import annotations

import dataclasses

import psycopg

from gonogo.batch import Batch
from gonogo.results import GateResult
from gonogo.steps import verify


def orphan_integrity(conn: psycopg.Connection, batch: Batch, *, phase: str = "preflight") -> list[GateResult]:
    """Nothing when the batch declares no integrity checks: an absent gate, never a PASS."""
    if batch.integrity_checks is None:
        return []
    result = verify(conn, batch.integrity_checks, phase=phase, subject="",
                    gate="orphan_integrity", title="Orphans = 0")
    if result.failed:
        total = sum(int(row.get("orphans", 0)) for row in result.details)
        result = dataclasses.replace(
            result, value=f"{total} orphaned rows",
            hint="clean the orphans (delete them or restore their parents) before the foreign keys "
                 "can be validated")
    return [result]
