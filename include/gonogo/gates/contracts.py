"""Seed 5: the app's contract tests (db_contract, recipe_flow) as checks on staging.

Each contract is SQL run inside a transaction that is always rolled back, so staging keeps
no trace of it; an error raised by the SQL is a broken contract. After each migration, the
contracts that hold from then on are run (those whose `after` step has been applied).
"""

from __future__ import annotations

import psycopg

from gonogo.batch import Batch
from gonogo.results import GateResult, Verdict


def contracts(conn: psycopg.Connection, batch: Batch, applied: list[str], *, phase: str,
              subject: str) -> list[GateResult]:
    """Nothing when the batch has no contract: an absent gate, never a PASS."""
    due = [c for c in batch.contracts if c.due(applied, subject if subject in applied else None)]
    if not due:
        return []
    rows = []
    for contract in due:
        error = None
        try:
            with conn.transaction(force_rollback=True):
                for statement in contract.file.statements:
                    conn.execute(statement.sql, prepare=False)
        except psycopg.Error as exc:
            error = (exc.diag.message_primary or str(exc)).strip()
        rows.append({"contract": contract.name, "holds_after": contract.after or "(before the batch)",
                     "passed": error is None, "error": error})
    broken = [r for r in rows if not r["passed"]]
    return [GateResult(
        gate="contract_tests", title="Staging contract tests pass", phase=phase, subject=subject,
        verdict=Verdict.FAIL if broken else Verdict.PASS,
        value=f"{len(rows) - len(broken)} of {len(rows)} contracts pass", threshold="all pass",
        message=("; ".join(f"{r['contract']}: {r['error']}" for r in broken) if broken
                 else "every contract due at this point holds: " + ", ".join(r["contract"] for r in rows)),
        hint="" if not broken else "the app would see this behaviour in production: fix the migration "
                                   "or the contract before going on",
        details=rows)]
