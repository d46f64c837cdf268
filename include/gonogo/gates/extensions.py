"""Seed 2: the extensions the batch needs (found from its SQL) are present, or available
and creatable by the migration role."""

from __future__ import annotations

import psycopg

from gonogo.authoring.additions import extensions_needed
from gonogo.batch import Batch
from gonogo.results import GateResult, Verdict
from gonogo.postgres.sqlfile import query


def extensions(conn: psycopg.Connection, batch: Batch, *, phase: str = "preflight") -> list[GateResult]:
    """Nothing when the batch needs no extension (an absent gate, not a PASS)."""
    statements = [s for step in batch.enabled_steps for s in step.forward.statements]
    creates = {o.name for step in batch.enabled_steps for o in step.creates() if o.kind == "extension"}
    needed = extensions_needed(statements)
    if not needed:
        return []
    rows, problems = [], []
    for name, why in sorted(needed.items()):
        installed, available, trusted, superuser, can_create = conn.execute(
            query("catalog.sql", "extension_state"), {"name": name}).fetchone()
        creatable = bool(available) and (superuser or (trusted and can_create))
        if installed:
            state = f"installed ({installed})"
        elif name in creates and creatable:
            state = f"created by the batch (available {available}, {'superuser' if superuser else 'trusted'})"
        elif name in creates:
            state = ("not available on the server" if not available
                     else "the role may not create it (not superuser, extension not trusted or no CREATE)")
            problems.append(f"{name}: {state}")
        else:
            state = "missing, and no step creates it"
            problems.append(f"{name}: {state} ({why})")
        rows.append({"extension": name, "needed_because": why, "state": state})
    return [GateResult(
        gate="extensions", title="Required extensions present or creatable", phase=phase,
        verdict=Verdict.FAIL if problems else Verdict.PASS,
        value=f"{len(needed) - len(problems)} of {len(needed)} ready: " + ", ".join(sorted(needed)),
        threshold="each installed, or created by the batch with the right to do so",
        message="; ".join(problems) if problems else "every extension the SQL needs is there or will be created",
        hint="" if not problems else "install the server package (e.g. postgresql-contrib) and CREATE EXTENSION "
                                     "as a superuser before the rollout, or add it to the batch",
        details=rows)]
