"""The preflight gates, in the order the DAG runs them.

PREFLIGHT lists the gates the DAG runs before the dry run, one task `check_<name>` each. A
gate runs against a context that opens guarded sessions (`ctx.session("production" |
"staging")`), knows the targets (`ctx.staging`) and the batch (`ctx.batch`); the Airflow glue
provides one. Adding a gate = a module with its function + a line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gonogo.gates.extensions import extensions
from gonogo.gates.monitoring import monitoring_enabled
from gonogo.gates.orphan_integrity import orphan_integrity
from gonogo.gates.privileges import privileges
from gonogo.gates.required_tables import required_tables
from gonogo.gates.schema_drift import schema_drift
from gonogo.gates.server_versions import server_versions
from gonogo.results import GateResult


@dataclass(frozen=True)
class Gate:
    name: str
    doc: str
    run: Callable[..., "GateResult | list[GateResult]"]  # run(ctx)


def _on(which: str, check: Callable, with_batch: bool = True) -> Callable:
    def run(ctx):
        with ctx.session(which) as conn:
            return check(conn, ctx.batch) if with_batch else check(conn)
    return run


def _versions(ctx):
    with ctx.session("production") as prod, ctx.session("staging") as staging:
        return server_versions(prod, staging)


def _drift(ctx):
    with ctx.session("production") as prod:
        return schema_drift(prod, ctx.staging, ctx.batch)


PREFLIGHT = (
    Gate("server_versions", "Staging runs exactly production's server_version_num.", _versions),
    Gate("extensions", "Production has, or the batch may create, every extension its SQL needs.",
         _on("production", extensions)),
    Gate("privileges", "The production role may do what each statement needs (from the catalog).",
         _on("production", privileges)),
    Gate("schema_drift", "Production's live schema equals the batch's expected schema.", _drift),
    Gate("required_tables", "Every table the batch requires or touches exists on the staging copy.",
         _on("staging", required_tables)),
    Gate("orphans", "No orphans for the foreign keys the batch adds, and its integrity checks are clean.",
         _on("staging", orphan_integrity)),
    Gate("monitoring", "pg_stat_statements is loaded and created on production.",
         _on("production", monitoring_enabled, with_batch=False)),
)


def preflight_gate(name: str) -> Gate:
    for gate in PREFLIGHT:
        if gate.name == name:
            return gate
    raise KeyError(f"no preflight gate {name!r}; known: {', '.join(g.name for g in PREFLIGHT)}")
