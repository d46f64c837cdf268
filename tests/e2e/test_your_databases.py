"""`make demo` on databases the user names, as the README tells a new user to run it: a
subprocess with GONOGO_PRODUCTION_URL / GONOGO_STAGING_URL in its environment and the team's
Prisma folder on its command line. By default the stand-in approver rejects: everything is
rehearsed on staging and production is left as it was; --answer approve rolls it out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import pg_dump_schema
from prisma_app import APPLIED, MIGRATIONS, PENDING, TRACKER, deploy_as_prisma_does

pytestmark = pytest.mark.timeout(600)
PROJECT = Path(__file__).resolve().parents[2]


def url(target) -> str:
    return f"postgresql://{target.user}:{target.password}@{target.host}:{target.port}/{target.dbname}"


def demo(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(PROJECT / "scripts" / "demo.py"), "--watch-minutes", "0.05", *args],
                          env=env, capture_output=True, text=True, timeout=540, cwd=PROJECT)


def test_your_prisma_folder_on_your_databases(make_database, tmp_path):
    production = make_database("production", "yours")
    with production.connect("tests/setup", guards=None) as conn:
        deploy_as_prisma_does(conn, MIGRATIONS, APPLIED)
        conn.execute((TRACKER / "seed.sql").read_text())
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    staging = make_database("staging", "yours_staging")
    env = {**os.environ, "GONOGO_PRODUCTION_URL": url(production), "GONOGO_STAGING_URL": url(staging),
           "GONOGO_STATE_DIR": str(tmp_path / "state")}
    schema_before = pg_dump_schema(production)

    rehearsed = demo(env, "--import", "prisma", str(MIGRATIONS))

    assert rehearsed.returncode == 0, rehearsed.stdout[-3000:] + rehearsed.stderr[-3000:]
    assert "the approval will be answered 'Reject'" in rehearsed.stdout
    assert "success          decide.approve_rollout" in rehearsed.stdout
    assert "== GO: rehearsed, approval rejected, production untouched" in rehearsed.stdout
    assert pg_dump_schema(production) == schema_before  # rehearsed on staging only
    assert production.password not in rehearsed.stdout + rehearsed.stderr
    reports = list((tmp_path / "state" / "artifacts" / "gonogo_rollout").glob("*/report.html"))
    assert len(reports) == 1 and all(name in reports[0].read_text() for name in PENDING)

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
