"""Seed 2: the migration role may do what each statement needs, read from the catalog:
own the tables it alters and indexes, REFERENCES on the tables its foreign keys point at,
TRIGGER, UPDATE/INSERT/DELETE where it writes, CREATE in the schema for functions."""

from __future__ import annotations

import psycopg

from gonogo.additions import privileges_needed
from gonogo.batch import Batch
from gonogo.results import GateResult, Verdict
from gonogo.sqlfile import query

_TABLE_NEEDS = {"own", "references", "select", "insert", "update", "delete", "trigger"}


def privileges(conn: psycopg.Connection, batch: Batch, *, phase: str = "preflight") -> GateResult:
    role = conn.execute("SELECT current_user").fetchone()[0]
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
    return GateResult(
        gate="privileges", title="Migration role has the privileges", phase=phase, subject=role,
        verdict=Verdict.FAIL if problems else Verdict.PASS,
        value=f"{len(rows) - len([r for r in rows if not r['ok']])} of {len(rows)} needs met by role {role}",
        threshold="every need met",
        message="; ".join(problems[:5]) if problems else f"role {role} may run every statement of the batch",
        hint="" if not problems else "run the rollout as the tables' owner (ALTER TABLE … OWNER TO, or GRANT the "
                                     "owning role to the migration role), or grant what is missing",
        details=rows)


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
