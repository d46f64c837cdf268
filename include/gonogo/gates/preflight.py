"""The preflight gates, in the order the DAG runs them.

PREFLIGHT lists the gates the DAG runs before the dry run, one task `check_<name>` each. A
gate runs against a context that opens guarded sessions (`ctx.session("production" |
"staging")`), knows the targets (`ctx.staging`) and the batch (`ctx.batch`); the Airflow glue
provides one. Adding a gate = a module with its function + a line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

# Imported at DAG parse time: the gate modules (and the database driver) load only when a
# gate runs.


@dataclass(frozen=True)
class Gate:
    name: str
    doc: str
    run: Callable  # run(ctx) -> GateResult | list[GateResult]


def _gate(name: str) -> Callable:
    """A gate's function: gonogo.gates.<name>.<name>, one name at every level (task check_<name>,
    module, function, the GateResult's gate id)."""
    return getattr(importlib.import_module(f"gonogo.gates.{name}"), name)


def _on(which: str, name: str, with_batch: bool = True) -> Callable:
    def run(ctx):
        check = _gate(name)
        with ctx.session(which) as conn:
            return check(conn, ctx.batch) if with_batch else check(conn)
    return run


def _versions(ctx):
    with ctx.session("production") as prod, ctx.session("staging") as staging:
        return _gate("server_versions")(prod, staging)


def _commands(ctx):
    from gonogo.gates.commands import run_command

    return [run_command(c, ctx.production, phase="preflight", subject="production (read-only)", app=ctx.app,
                        guards=ctx.guards)
            for c in ctx.batch.commands if c.target == "production"]


def _drift(ctx):
    with ctx.session("production") as prod:
        return _gate("schema_drift")(prod, ctx.staging, ctx.batch)


PREFLIGHT = (
    Gate("applied_history", "What production's gonogo history says: steps applied before, files edited since.",
         _on("production", "applied_history")),
    Gate("enabled_steps", "A manifest-disabled step enabled for this run comes after a week of stable metrics.",
         _on("production", "enabled_steps")),
    Gate("server_versions", "Staging runs exactly production's server_version_num.", _versions),
    Gate("extensions", "Production has, or the batch may create, every extension its SQL needs.",
         _on("production", "extensions")),
    Gate("privileges", "The production role may do what each statement needs (from the catalog).",
         _on("production", "privileges")),
    Gate("schema_drift", "Production's live schema equals the batch's expected schema.", _drift),
    Gate("required_tables", "Every table the batch requires or touches exists on the staging copy.",
         _on("staging", "required_tables")),
    Gate("orphan_integrity", "No orphans for the foreign keys the batch adds, and its integrity checks are clean.",
         _on("staging", "orphan_integrity")),
    Gate("commands", "The team's own commands that read production (read-only sessions), e.g. a drift check.",
         _commands),
    Gate("monitoring_enabled", "pg_stat_statements is loaded and created on production.",
         _on("production", "monitoring_enabled", with_batch=False)),
)


def preflight_gate(name: str) -> Gate:
    for gate in PREFLIGHT:
        if gate.name == name:
            return gate
    raise KeyError(f"no preflight gate {name!r}; known: {', '.join(g.name for g in PREFLIGHT)}")
