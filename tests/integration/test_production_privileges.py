"""The privileges gate asks, before the approval, for what the production tasks will run as
the production role: a role that owns every table of the app (as an app's own login does)
meets every statement's needs, yet the restore point and gonogo's history need grants only a
superuser gives. Each missing grant the gate names is run as written, and the task it stood
for then works as that role: the gate's claim is checked against the server both ways."""

from __future__ import annotations

import dataclasses
import secrets

import psycopg
import pytest
from psycopg import sql

from gonogo.apply import history
from gonogo.decision import Decision
from gonogo.gates.privileges import privileges
from gonogo.gates.restore_point import create_restore_point
from gonogo.tools.imported import import_batch, pending
from gonogo.reporting.outcome import decide
from gonogo.results import Verdict
from gonogo.apply.steps import Ledger, apply_steps, rollback_steps
from prisma_app import APPLIED, MIGRATIONS, deploy_as_prisma_does


@pytest.fixture
def owner(prod_cluster, prod_db):
    """(admin connection, the role's name, its Target): a login that owns the database and
    every table of the app, with no other grant, the app deployed by it."""
    name, password = f"app_{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    admin = prod_db.connect("tests", guards=None)
    admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))
    admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(prod_db.dbname), sql.Identifier(name)))
    as_role = dataclasses.replace(prod_db, user=name, password=password)
    with as_role.connect("tests/setup", guards=None) as conn:
        deploy_as_prisma_does(conn, MIGRATIONS, APPLIED)
    yield admin, name, as_role
    admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO postgres").format(sql.Identifier(prod_db.dbname)))
    admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
    admin.close()
    with prod_cluster.target().connect("tests", guards=None) as other:
        other.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def failing(result) -> dict[str, dict]:
    return {row["on"]: row for row in result.details if not row["ok"]}


def test_the_owner_of_every_table_still_needs_the_restore_point_granted(owner):
    admin, name, as_role = owner
    with as_role.connect("tests", guards=None) as conn:
        batch = pending(import_batch("prisma", MIGRATIONS), conn)
        result = privileges(conn, batch)
        statements = [row for row in result.details if row.get("level") is None]
        assert statements and all(row["ok"] for row in statements)  # it owns what the batch alters
        missing = failing(result)
        # the production cluster archives WAL: the restore point also switches WAL
        assert set(missing) == {"pg_create_restore_point(text)", "pg_switch_wal()"}
        assert result.verdict is Verdict.FAIL
        grant = f"GRANT EXECUTE ON FUNCTION pg_create_restore_point(text) TO {name}"
        assert grant in result.message and grant in result.hint
        assert missing["pg_switch_wal()"]["level"] == "warn"
        # what the gate says is what the server does
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="pg_create_restore_point"):
            create_restore_point(conn, "gonogo_test_denied")

        for row in missing.values():
            admin.execute(row["grant"])
        after = privileges(conn, batch)
        assert after.verdict is Verdict.PASS, after.message
        assert create_restore_point(conn, "gonogo_test_granted").verdict is Verdict.PASS


def test_without_pg_switch_wal_only_a_warning(owner):
    admin, name, as_role = owner
    admin.execute(f"GRANT EXECUTE ON FUNCTION pg_create_restore_point(text) TO {name}")
    with as_role.connect("tests", guards=None) as conn:
        result = privileges(conn, pending(import_batch("prisma", MIGRATIONS), conn))
        assert result.verdict is Verdict.WARN
        assert f"GRANT EXECUTE ON FUNCTION pg_switch_wal() TO {name}" in result.hint
        # as the gate says: the restore point is written, its archiving not confirmed
        assert create_restore_point(conn, "gonogo_test_no_switch").verdict is Verdict.WARN


def test_gonogos_history_made_by_another_role_needs_grants(owner):
    admin, name, as_role = owner
    admin.execute(f"GRANT EXECUTE ON FUNCTION pg_create_restore_point(text), pg_switch_wal() TO {name}")
    history.ensure(admin)  # an earlier rollout ran as a superuser
    with as_role.connect("tests", guards=None) as conn:
        batch = pending(import_batch("prisma", MIGRATIONS), conn)
        for expected in ("GRANT USAGE, CREATE ON SCHEMA gonogo", "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES"):
            result = privileges(conn, batch)
            [row] = failing(result).values()
            assert result.verdict is Verdict.FAIL and row["on"] == "gonogo" and expected in row["grant"]
            assert row["grant"] in result.message
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                history.ensure(conn)
                history.record(conn, "run_1", batch.id, "approve")
            for statement in row["grant"].split("; "):
                admin.execute(statement)
        assert privileges(conn, batch).verdict is Verdict.PASS
        history.ensure(conn)
        history.record(conn, "run_1", batch.id, "approve")


def test_a_restore_point_that_fails_leaves_production_untouched_and_says_so(owner):
    """The trial's run: approved, then create_restore_point denied. The outcome reads the run's
    history: no step started, so no "rolled back"; once a step ran and was undone, it is."""
    _, _, as_role = owner
    approved = Decision(choice="Approve", by="dana")
    with as_role.connect("tests", guards=None) as conn:
        batch = pending(import_batch("prisma", MIGRATIONS), conn)
        history.ensure(conn)  # record_approval
        history.record(conn, "run_1", batch.id, "approve")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            create_restore_point(conn, "gonogo_test_denied")
        assert history.started_by(conn, batch.id, "run_1") == []
        end = decide(gates_report="report.md", approval=approved, applied=None, watched=None,
                     started=history.started_by(conn, batch.id, "run_1"), stopped_at="create_restore_point")
        assert end.kind == "stopped" and "production untouched" in end.summary
        assert "production.create_restore_point failed before any migration was applied" in end.summary
        assert "rolled back" not in end.summary and "rollback_migrations" not in end.summary

        ledger = Ledger(batch, "run_2")
        first = [batch.steps[0]]
        assert apply_steps(conn, first, phase="production", live_traffic=False, log=print, ledger=ledger).ok
        assert rollback_steps(conn, first, phase="production", log=print, ledger=ledger).ok
        assert history.started_by(conn, batch.id, "run_2") == [first[0].name]
        end = decide(gates_report="report.md", approval=approved, applied=None, watched=None,
                     on_failure=Decision(choice="Roll back"),
                     started=history.started_by(conn, batch.id, "run_2"), stopped_at="apply_migrations")
        assert end.kind == "rolled_back"
