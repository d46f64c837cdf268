"""Seed red flag 4, without Prisma: production's live schema equals the schema the batch
was written against. The batch ships that schema as DDL (expected_schema); gonogo builds it
in a scratch database on the staging server, reads both from the catalog and diffs them.

Extensions are left out of the comparison: the extensions gate covers what the batch needs,
and production may have others (pg_stat_statements) that the app's DDL never mentions.
"""

from __future__ import annotations

import dataclasses
import secrets

import psycopg
from psycopg import sql

from gonogo.apply import history
from gonogo.batch import Batch, Step
from gonogo.postgres.execute import ScriptError, run_script
from gonogo.results import GateResult, Verdict
from gonogo.postgres.schema import Schema, compare, read_schema
from gonogo.postgres.target import Target


def expected_schema(scratch_server: Target, batch: Batch, applied: list[Step] = ()) -> Schema:
    """The schema production should have, built in a throwaway database and read back: the
    batch's expected_schema DDL, or the migrations the tool's history says production applied
    (as the tool's shadow database does), then the steps gonogo's history says it applied.
    Raises ScriptError naming the file and line that does not build."""
    name = f"gonogo_expected_{secrets.token_hex(4)}"
    admin = scratch_server.with_dbname("postgres")
    with admin.connect("schema_drift", guards=None) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with scratch_server.with_dbname(name).connect("schema_drift", guards=None) as conn:
            files = [batch.expected_schema] if batch.expected_schema else [m.up for m in batch.applied_before]
            for script in [*files, *(step.forward for step in applied)]:
                run_script(conn, script, log=lambda _: None)
            return read_schema(conn, batch.history_objects)
    finally:
        with admin.connect("schema_drift", guards=None) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _without_extensions(schema: Schema) -> Schema:
    return Schema(tuple(line for line in schema.lines if line[0] != "extension"))


def schema_drift(production: psycopg.Connection, scratch_server: Target, batch: Batch,
                 *, phase: str = "preflight") -> list[GateResult]:
    """Nothing when the batch ships no expected schema and comes from no migration tool: an
    absent gate, never a PASS."""
    if batch.expected_schema is None and batch.tool is None:
        return []
    applied, _ = history.split(batch, history.read(production, batch.id))
    if batch.expected_schema:
        label = f"{batch.expected_schema.path.name} (the batch's expected schema)"
    else:
        label = (f"the {len(batch.applied_before)} {batch.tool.name} migrations production's {batch.tool.name} "
                 f"history says are applied")
    try:
        want = _without_extensions(expected_schema(scratch_server, batch, applied))
    except ScriptError as exc:
        return [GateResult(
            gate="schema_drift", title="No schema drift", phase=phase, subject="production", verdict=Verdict.FAIL,
            value="expected schema does not build", threshold="0 differences",
            message=f"{label} could not be built in a scratch database: {exc}",
            hint="a migration that ran on production fails on an empty database: fix the file or the "
                 "expected schema")]
    have = _without_extensions(read_schema(production, batch.history_objects))
    if applied:
        label += f" with the {len(applied)} steps production's history says are applied"
    result = compare(want, have, gate="schema_drift", title="No schema drift", phase=phase,
                     subject="production", expected_label=label, ignore=history.in_flux(production, batch))
    if result.failed:
        result = dataclasses.replace(result, hint=(
            "production is not the schema this batch was written for: '-' lines are missing on "
            "production, '+' lines exist only there. Reconcile before rolling out."))
    return [result]
