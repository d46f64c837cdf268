"""`make demo` on databases the user names, as the README tells a new user to run it: a
subprocess with GONOGO_PRODUCTION_URL / GONOGO_STAGING_URL in its environment and the team's
Prisma folder on its command line. By default the stand-in approver rejects: everything is
rehearsed on staging and production is left as it was; --answer approve rolls it out."""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from psycopg import sql

from helpers import pg_dump_schema
from prisma_app import APPLIED, MIGRATIONS, PENDING, TRACKER, deploy_as_prisma_does

pytestmark = pytest.mark.timeout(600)
PROJECT = Path(__file__).resolve().parents[2]


def url(target) -> str:
    return f"postgresql://{target.user}:{target.password}@{target.host}:{target.port}/{target.dbname}"


def demo(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(PROJECT / "scripts" / "demo.py"), "--watch-minutes", "0.05", *args],
                          env=env, capture_output=True, text=True, timeout=540, cwd=PROJECT)


def tracker_databases(make_database):
    """Production with the tracker app at its first migrations (as Prisma deploys them), its
    rows and pg_stat_statements; an empty staging database."""
    production = make_database("production", "yours")
    with production.connect("tests/setup", guards=None) as conn:
        deploy_as_prisma_does(conn, MIGRATIONS, APPLIED)
        conn.execute((TRACKER / "seed.sql").read_text())
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    return production, make_database("staging", "yours_staging")


def test_your_prisma_folder_on_your_databases(make_database, tmp_path):
    production, staging = tracker_databases(make_database)
    env = {**os.environ, "GONOGO_PRODUCTION_URL": url(production), "GONOGO_STAGING_URL": url(staging),
           "GONOGO_STATE_DIR": str(tmp_path / "state")}
    # (the default answer, Reject — rehearsed, production untouched — is the next test's last run)
    rolled_out = demo(env, "--import", "prisma", str(MIGRATIONS), "--answer", "approve")

    assert rolled_out.returncode == 0, rolled_out.stdout[-3000:] + rolled_out.stderr[-3000:]
    assert "== ROLLED OUT" in rolled_out.stdout
    with production.connect("tests", guards=None) as conn:
        names = [r[0] for r in conn.execute('SELECT migration_name FROM "_prisma_migrations" ORDER BY started_at')]
    assert names == APPLIED + PENDING


def test_your_databases_need_both_urls_and_a_batch(tmp_path):
    env = {**os.environ, "GONOGO_PRODUCTION_URL": "postgresql://u:p@127.0.0.1:1/db",
           "GONOGO_STATE_DIR": str(tmp_path / "state")}
    env.pop("GONOGO_STAGING_URL", None)
    done = demo(env)
    assert done.returncode != 0 and "GONOGO_STAGING_URL is not" in done.stderr
    env["GONOGO_STAGING_URL"] = "postgresql://u:p@127.0.0.1:1/staging"
    done = demo(env)
    assert done.returncode == 2 and "name the batch" in done.stderr


def test_a_run_that_stops_before_its_report_does_not_show_another_runs(make_database, tmp_path):
    """The trial: a folder with a pending migration no draft can undo stops validate_batch; the
    demo printed the newest report.html, an earlier run's. Then `import --write` makes the batch
    folder for that rollback outside include/batches, and `--batch FOLDER` rolls it out."""
    production, staging = tracker_databases(make_database)
    state = tmp_path / "state"
    env = {**os.environ, "GONOGO_PRODUCTION_URL": url(production), "GONOGO_STAGING_URL": url(staging),
           "GONOGO_STATE_DIR": str(state)}
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, folder)
    renamed = folder / "20240402110000_issue_body_default"  # a DEFAULT change: no draft can know the old one
    renamed.mkdir()
    (renamed / "migration.sql").write_text('ALTER TABLE "Issue" ALTER COLUMN "body" SET DEFAULT \'\';\n')
    earlier = state / "artifacts" / "gonogo_rollout" / "manual__earlier_run"
    earlier.mkdir(parents=True)
    (earlier / "report.html").write_text("<html>an earlier run</html>")

    stopped = demo(env, "--import", "prisma", str(folder))

    assert stopped.returncode == 1, stopped.stdout[-3000:] + stopped.stderr[-3000:]
    assert "failed           prepare.validate_batch" in stopped.stdout
    assert str(earlier) not in stopped.stdout and "   Go/No-Go report:" not in stopped.stdout
    assert "no Go/No-Go report: this run stopped before writing one (prepare.validate_batch failed)" in stopped.stdout
    assert "== NO-GO: read the failed task's log above; production untouched" in stopped.stdout

    imported = subprocess.run([sys.executable, "-m", "gonogo", "import", "prisma", str(folder), "--production-env",
                               "GONOGO_PRODUCTION_URL", "--write", str(tmp_path / "batches")],
                              env=env, capture_output=True, text=True, timeout=120, cwd=PROJECT)
    assert imported.returncode == 2, imported.stdout + imported.stderr
    [written] = (tmp_path / "batches").iterdir()
    (written / "rollbacks" / f"{renamed.name}.sql").write_text('ALTER TABLE "Issue" ALTER COLUMN "body" DROP DEFAULT;\n')

    schema_before = pg_dump_schema(production)
    rehearsed = demo(env, "--batch", str(written))

    assert rehearsed.returncode == 0, rehearsed.stdout[-3000:] + rehearsed.stderr[-3000:]
    assert "the approval will be answered 'Reject'" in rehearsed.stdout
    assert "success          decide.approve_rollout" in rehearsed.stdout
    assert "== GO: rehearsed, approval rejected, production untouched" in rehearsed.stdout
    assert pg_dump_schema(production) == schema_before  # rehearsed on staging only
    assert production.password not in rehearsed.stdout + rehearsed.stderr
    report = next(line for line in rehearsed.stdout.splitlines() if line.startswith("   Go/No-Go report:"))
    shown = Path(report.split()[2]).read_text()
    assert str(earlier) not in report and all(name in shown for name in [*PENDING, renamed.name])


def test_a_production_login_that_owns_the_tables_is_told_the_grants_before_the_approval(
        make_database, prod_cluster, staging_cluster, tmp_path):
    """The trial's production login owned every table but could not write a restore point: the
    run reached the approval and failed after it. The privileges gate now stops it before."""
    production = make_database("production", "yours")
    name, password = f"app_{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    with prod_cluster.target().connect("tests/setup", guards=None) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))
        admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(production.dbname),
                                                                      sql.Identifier(name)))
        # the trial's login once it could read the statistics: only the production phase's grants missing
        admin.execute(sql.SQL("GRANT pg_monitor TO {}").format(sql.Identifier(name)))
    with staging_cluster.target().connect("tests/setup", guards=None) as admin:
        # the tables' owner exists on staging too (pg_restore gives them to it), as in the trial
        admin.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(name)))
    with production.connect("tests/setup", guards=None) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    as_role = dataclasses.replace(production, user=name, password=password)
    with as_role.connect("tests/setup", guards=None) as conn:
        deploy_as_prisma_does(conn, MIGRATIONS, APPLIED)
        conn.execute((TRACKER / "seed.sql").read_text())
    staging = make_database("staging", "yours_staging")
    env = {**os.environ, "GONOGO_PRODUCTION_URL": url(as_role), "GONOGO_STAGING_URL": url(staging),
           "GONOGO_STATE_DIR": str(tmp_path / "state")}
    try:
        done = demo(env, "--import", "prisma", str(MIGRATIONS), "--answer", "approve")

        assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
        states = done.stdout[done.stdout.index("== run "):]
        assert "failed           decide.evaluate_gates" in done.stdout, states[:3000]
        assert "success          decide.approve_rollout" not in done.stdout  # nobody was asked to approve
        [report] = (tmp_path / "state" / "artifacts" / "gonogo_rollout").glob("*/report.md")
        text = report.read_text()
        assert f"GRANT EXECUTE ON FUNCTION pg_create_restore_point(text) TO {name}" in text
    finally:
        with prod_cluster.target().connect("tests/setup", guards=None) as admin:
            admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO postgres").format(sql.Identifier(production.dbname)))
        with production.connect("tests/setup", guards=None) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        with prod_cluster.target().connect("tests/setup", guards=None) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
        with staging_cluster.target().connect("tests/setup", guards=None) as admin:
            # the staging copy (owned by the role) goes first: the fixture drops it later anyway
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(staging.dbname)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
