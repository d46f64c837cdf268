"""Seed 2: the migration role may do what each statement needs, read from the catalog:
own the tables it alters and indexes, REFERENCES on the tables its foreign keys point at,
TRIGGER, UPDATE/INSERT/DELETE where it writes, CREATE in the schema for functions.

And what the production phase itself will ask of the role after the approval, so that a
missing grant stops the run here, before anyone approves, with the GRANT to run: its history
(schema gonogo), the restore point (pg_create_restore_point, pg_switch_wal when WAL is
archived), the migration tool's history table. pg_dump needs nothing more: restore_staging ran
it as this role before this gate."""

from __future__ import annotations

import re

import psycopg
from psycopg import sql

from gonogo.authoring.additions import privileges_needed
from gonogo.batch import Batch
from gonogo.results import GateResult, Verdict
from gonogo.postgres.sqlfile import query

_TABLE_NEEDS = {"own", "references", "select", "insert", "update", "delete", "trigger"}


def privileges(conn: psycopg.Connection, batch: Batch, *, phase: str = "preflight") -> GateResult:
    role = conn.execute("SELECT current_user").fetchone()[0]
    later = production_needs(conn, batch)
    # a table the batch itself creates does not exist yet, and will be the role's own
    created = batch.created_tables()
    rows, problems = [], []
    for step in batch.enabled_steps:
        for need in privileges_needed(list(step.forward.statements)):
            if need.kind in _TABLE_NEEDS and need.object in created:
                ok, detail = True, f"created by {created[need.object]}: the role will own it"
            else:
                ok, detail = _check(conn, need)
            rows.append({"step": step.name, "line": need.line, "needs": need.kind, "on": need.object,
                         "ok": ok, "detail": detail})
            if not ok:
                problems.append(f"{step.name} line {need.line}: {need.kind} on {need.object} ({detail})")
    problems = list(dict.fromkeys(problems))
    # the production phase's needs first: each names its GRANT, and a long statement list must not hide them
    failing = [f"{r['step']}: {r['detail']}" for r in later if not r["ok"] and r["level"] == "fail"]
    warning = [f"{r['step']}: {r['detail']}" for r in later if not r["ok"] and r["level"] == "warn"]
    rows += later
    shown = failing + problems[:5] + warning
    grants = [r["grant"] for r in later if not r["ok"]]
    hint = "; ".join(filter(None, [
        "run the rollout as the tables' owner (ALTER TABLE … OWNER TO, or GRANT the owning role to the migration "
        "role), or grant what is missing" if problems else "",
        f"as a superuser, run: {'; '.join(grants)}" if grants else ""]))
    return GateResult(
        gate="privileges", title="Migration role has the privileges", phase=phase, subject=role,
        verdict=Verdict.FAIL if problems or failing else Verdict.WARN if warning else Verdict.PASS,
        value=f"{len(rows) - len([r for r in rows if not r['ok']])} of {len(rows)} needs met by role {role}",
        threshold="every need met",
        message="; ".join(shown) if shown else f"role {role} may run every statement of the batch and every "
                                               f"production task",
        hint=hint, details=rows)


def production_needs(conn: psycopg.Connection, batch: Batch) -> list[dict]:
    """What the production tasks will run as this role, one row each (step: the task), with
    level fail (the task would stop the rollout) or warn (it would go on with less), and the
    GRANT that gives it."""
    role, dbname = conn.execute(query("catalog.sql", "quoted_names")).fetchone()
    rows = [_history_schema(conn, role, dbname, "gonogo", "record_approval (gonogo's history)")]
    rows.append(_function(conn, role, "create_restore_point", "pg_create_restore_point(text)", "fail"))
    if conn.execute(query("catalog.sql", "wal_archiving")).fetchone()[0]:
        # without it the restore point is written but its WAL segment is archived only once it fills: a WARN there
        rows.append(_function(conn, role, "create_restore_point", "pg_switch_wal()", "warn",
                              "the restore point's WAL is not confirmed archived before the batch runs"))
    tool = batch.tool
    for where in (tool.history if tool else ()):
        schema, _, table = where.partition(".")
        if not table:
            rows.append(_history_schema(conn, role, dbname, schema, f"apply_migrations ({tool.name}'s history)"))
        elif tool.history_writes:
            rows.append(_tool_table(conn, role, tool, schema, where))
    return rows


def _quoted(conn, name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else sql.Identifier(name).as_string(conn)


def _row(step: str, needs: str, on: str, ok: bool, detail: str, grant: str, level: str = "fail") -> dict:
    return {"step": step, "line": None, "needs": needs, "on": on, "ok": ok, "detail": detail,
            "grant": grant, "level": level}


def _function(conn, role: str, step: str, signature: str, level: str, without: str = "") -> dict:
    ok = conn.execute(query("catalog.sql", "execute_privilege"), {"function": signature}).fetchone()[0]
    grant = f"GRANT EXECUTE ON FUNCTION {signature} TO {role}"
    detail = "granted" if ok else (f"EXECUTE on {signature} is not granted"
                                   + (f": {without}" if without else f": {step} would fail after the approval")
                                   + f" — {grant}")
    return _row(step, "execute", signature, ok, detail, grant, level)


def _history_schema(conn, role: str, dbname: str, schema: str, step: str) -> dict:
    present, may_create, usable, unwritable = conn.execute(
        query("catalog.sql", "schema_write_privileges"), {"schema": schema}).fetchone()
    name = _quoted(conn, schema)
    if not present:
        grant = f"CREATE SCHEMA {name} AUTHORIZATION {role} (or GRANT CREATE ON DATABASE {dbname} TO {role})"
        ok, what = may_create, f"schema {schema} does not exist and the role may not create it"
    elif not usable:
        grant = f"GRANT USAGE, CREATE ON SCHEMA {name} TO {role}"
        ok, what = False, f"USAGE and CREATE on schema {schema} are not both granted"
    else:
        grant = (f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {name} TO {role}; "
                 f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {name} TO {role}")
        ok, what = not unwritable, f"may not write {', '.join(unwritable)} in schema {schema}"
    return _row(step, "write_schema", schema, ok, "granted" if ok else f"{what} — {grant}", grant)


def _tool_table(conn, role: str, tool, schema: str, table: str) -> dict:
    step = f"apply_migrations ({tool.name}'s history)"
    missing, may_create = [], None
    for privilege in tool.history_writes:
        granted, may_create = conn.execute(query("catalog.sql", "table_write_privilege"),
                                           {"table": table, "privilege": privilege, "schema": schema}).fetchone()
        if granted is None:  # the first record() creates it, as the tool would
            grant = f"GRANT CREATE ON SCHEMA {_quoted(conn, schema)} TO {role}"
            return _row(step, "create_in_schema", table, bool(may_create),
                        "granted" if may_create else f"{table} does not exist and the role may not create it in "
                                                     f"schema {schema} — {grant}", grant)
        if not granted:
            missing.append(privilege)
    grant = f"GRANT {', '.join(tool.history_writes)} ON {table} TO {role}"
    return _row(step, "write", table, not missing,
                "granted" if not missing else f"{', '.join(missing)} on {table} not granted — {grant}", grant)


def _check(conn: psycopg.Connection, need) -> tuple[bool, str]:
    if need.kind in _TABLE_NEEDS:
        row = conn.execute(query("catalog.sql", "table_privileges"), {"table": need.object}).fetchone()
        if row is None:
            return False, "no such table"
        granted = dict(zip(("relname", "own", "references", "select", "insert", "update", "delete",
                            "trigger", "owner"), row))
        return bool(granted[need.kind] or granted["own"]), f"owner {granted['owner']}"
    if need.kind == "create_in_schema":
        ok = conn.execute("SELECT has_schema_privilege(%s, 'CREATE')", [need.object]).fetchone()[0]
        return bool(ok), "CREATE on schema"
    if need.kind == "create_extension":
        installed, available, trusted, superuser, can_create = conn.execute(
            query("catalog.sql", "extension_state"), {"name": need.object}).fetchone()
        if installed:
            return True, "already installed"
        return bool(available and (superuser or (trusted and can_create))), (
            "superuser" if superuser else f"trusted={trusted}, CREATE on database={can_create}")
    return True, ""
