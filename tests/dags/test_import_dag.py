"""A team's own migration folder through the whole DAG (dag.test(), real clusters, real Slack
stand-in): nothing written for gonogo but the corpus the tool would generate. Additive
migrations come out Go and the tool's own status agrees afterwards; dangerous ones come out
No-Go with the findings named, production untouched."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import datetime, timezone

import yaml

from gonogo.authoring.queries import load_queries
from helpers import pg_dump_schema, states
from prisma_app import APPLIED, MIGRATIONS, PENDING, TRACKER, deploy_as_prisma_does, prisma_status

PROJECT = TRACKER.parents[3]


def tracker_queries(tmp_path):
    """The tracker app's Prisma Client queries with values of their own (the app's traffic)."""
    params = tmp_path / "client_params.yaml"
    params.write_text(yaml.safe_dump({
        "issues_of_project": {"project": 7, "status": "open", "limit": 20, "offset": 0},
        "issue_by_id": {"issue": 4242, "one": 1, "zero": 0},
        "comments_of_issue": {"issue": 4242, "zero": 0},
        "user_by_email": {"email": "user77@tracker.example", "one": 1, "zero": 0},
        "touch_issue": {"issue": 4242, "now": datetime(2024, 5, 1, tzinfo=timezone.utc).isoformat()}}))
    return load_queries(TRACKER / "client_queries.sql", params)


def load_tracker(production):
    with production.connect("tests/setup", guards=None) as conn:
        deploy_as_prisma_does(conn, MIGRATIONS, APPLIED)
        conn.execute((TRACKER / "seed.sql").read_text())
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")  # production's history: the app's traffic, not our setup


def test_a_prisma_folder_rolls_out_as_it_is_and_prisma_agrees(rollout, tmp_path):
    env = rollout(load=load_tracker, app_queries=tracker_queries(tmp_path))

    dagrun = env.run("Approve", migration_tool="prisma", migrations_folder=str(MIGRATIONS))

    ti = states(dagrun)
    assert str(dagrun.state) == "success", env.why(dagrun)
    with env.production.connect("tests", guards=None) as conn:
        recorded = [r[0] for r in conn.execute('SELECT migration_name FROM "_prisma_migrations" ORDER BY started_at')]
        made = conn.execute("SELECT to_regclass('\"Label\"') IS NOT NULL AND to_regclass('\"Watch\"') IS NOT NULL")
        assert made.fetchone()[0]
    assert recorded == APPLIED + PENDING
    project = tmp_path / "app"
    shutil.copytree(TRACKER / "prisma", project / "prisma")
    status = prisma_status(project, env.production)
    assert status.returncode == 0 and "Database schema is up to date!" in status.stdout, status.stdout + status.stderr

    run_dir = next((env.artifacts / "gonogo_rollout").iterdir())
    report = json.loads((run_dir / "report.json").read_text())
    gates = {(r["gate"], r["subject"]): r for r in report["results"]}
    # the app's workload was found on production, not written: its Prisma Client statements
    workload = gates[("workload", "production")]
    assert workload["verdict"] == "PASS", workload  # every statement got values (Prisma's AND 1=1 too)
    found = " ".join(row["sql"] for row in workload["details"])
    assert '"public"."Issue"."id" = %(p1)s AND %(p' in found and 'UPDATE "public"."Issue"' in found
    # the steps: only the two pending ones, each in one transaction, rollbacks drafted and rehearsed
    applied = [r["subject"] for r in report["results"] if r["gate"] == "step_applied" and r["phase"] == "dry_run"]
    assert applied == PENDING
    rehearsed = [r["subject"] for r in report["results"] if r["gate"] == "rollback_applied"]
    assert rehearsed == list(reversed(PENDING))  # the drafts ran on staging, and the batch applied again
    page = (run_dir / "report.html").read_text()
    assert "drafted by gonogo" in page and "in one transaction" in page
    # the tables the batch creates: not missing, their privileges met, not queried before they exist
    by_gate = {r["gate"]: r for r in report["results"] if r["phase"] == "preflight"}
    assert by_gate["required_tables"]["verdict"] == "PASS"
    assert by_gate["privileges"]["verdict"] == "PASS" and "no such table" not in json.dumps(by_gate["privileges"])
    assert all(r["ok"] for r in by_gate["privileges"]["details"])

    # The same folder again: prisma's history has every migration, so nothing to apply.
    again = env.run("Approve", migration_tool="prisma", migrations_folder=str(MIGRATIONS))
    ti = states(again)
    assert str(again.state) == "success" and ti["decide.approve_rollout"] == "skipped", env.why(again)
    [again_dir] = [d for d in (env.artifacts / "gonogo_rollout").iterdir() if d != run_dir]
    [before] = json.loads((again_dir / "report.json").read_text())["results"]
    assert before["value"] == f"{len(APPLIED + PENDING)} in prisma's history"
    assert env.slack.messages[-1]["text"].startswith("☑️ gonogo: nothing to apply")


def test_a_dangerous_prisma_migration_is_no_go_with_its_findings_named(rollout, tmp_path, monkeypatch):
    """A hand-edited Prisma migration: a whole-table UPDATE ... FROM, SET NOT NULL and an index on a
    busy table, all in the one transaction Prisma runs the file in. The team wrote its rollback."""
    env = rollout(load=load_tracker, app_queries=tracker_queries(tmp_path))
    folder = tmp_path / "app" / "prisma" / "migrations"
    shutil.copytree(MIGRATIONS, folder)
    risky = folder / "20240402110000_issue_author_name"
    risky.mkdir()
    (risky / "migration.sql").write_text(
        '-- AlterTable\nALTER TABLE "Issue" ADD COLUMN "authorName" TEXT;\n\n'
        '-- Backfill (hand-written)\nUPDATE "Issue" SET "authorName" = u."name" FROM "User" u WHERE u."id" = "Issue"."authorId";\n\n'
        '-- AlterTable\nALTER TABLE "Issue" ALTER COLUMN "authorName" SET NOT NULL;\n\n'
        '-- CreateIndex\nCREATE INDEX "Issue_authorName_idx" ON "Issue"("authorName");\n')
    batch = tmp_path / "batches" / "tracker_next"
    (batch / "rollbacks").mkdir(parents=True)
    (batch / "rollbacks" / f"{risky.name}.sql").write_text(
        'DROP INDEX IF EXISTS "Issue_authorName_idx";\nALTER TABLE "Issue" DROP COLUMN IF EXISTS "authorName";\n')
    commands = PROJECT / "tests" / "commands"
    (batch / "manifest.yaml").write_text(yaml.safe_dump({
        "id": "tracker_next", "title": "Tracker: author names on issues",
        "source": {"tool": "prisma", "path": "../../app/prisma/migrations"},
        # the team's own checks: its contract test after the labels migration, on the staging copy,
        # and a read of production (read-only sessions) before anything runs
        "commands": [
            {"name": "labels_contract", "run": [sys.executable, str(commands / "db_contract_check.py"), '"Label"',
                                                "Label_projectId_fkey"], "after": "20240301100000_add_labels"},
            {"name": "prisma_history", "run": [str(commands / "psql_query.sh"),
                                               'SELECT count(*) FROM "_prisma_migrations"'], "target": "production"},
        ]}))
    schema_before = pg_dump_schema(env.production)
    monkeypatch.setenv("GONOGO_BATCHES_DIR", str(tmp_path / "batches"))

    dagrun = env.run("Approve", batch="tracker_next")

    ti = states(dagrun)
    assert str(dagrun.state) == "failed" and ti["decide.evaluate_gates"] == "failed", env.why(dagrun)
    assert env.answered == []  # nobody was asked to approve
    assert pg_dump_schema(env.production) == schema_before
    run_dir = next((env.artifacts / "gonogo_rollout").iterdir())
    report = json.loads((run_dir / "report.json").read_text())
    failed = {(r["gate"], r["subject"]) for r in report["results"] if r["verdict"] == "FAIL"}
    assert ("lint", risky.name) in failed, failed
    rules = {rule for r in report["results"] if r["gate"] == "lint" for d in r["details"]
             for rule in (d["rule"], *d["references"])}  # gonogo's rule ids and squawk's it merged
    assert {"transaction-holds-lock", "index-without-concurrently", "require-concurrent-index-creation"} <= rules, rules
    no_go = [m for m in env.slack.messages if "No-Go" in m["text"]]
    assert len(no_go) == 1
    ran = {r["title"]: r for r in report["results"] if r["gate"] == "commands"}
    contract, read = ran["Team command: labels_contract"], ran["Team command: prisma_history"]
    assert contract["verdict"] == "PASS" and contract["subject"] == "20240301100000_add_labels"
    assert "ok: Label_projectId_fkey FOREIGN KEY" in contract["details"][0]["output_tail"]
    assert read["verdict"] == "PASS" and read["details"][0]["target"] == "production"
    assert read["details"][0]["output_tail"].splitlines()[0] == str(len(APPLIED))
    assert env.production.password not in json.dumps(report)


def test_a_migration_prisma_marks_failed_stops_the_run_before_production_is_read(rollout, tmp_path):
    def failed_on_production(production):
        load_tracker(production)
        with production.connect("tests/setup", guards=None) as conn:
            conn.execute('UPDATE "_prisma_migrations" SET finished_at = NULL WHERE migration_name = %s', [APPLIED[1]])

    env = rollout(load=failed_on_production, app_queries=tracker_queries(tmp_path))

    dagrun = env.run("Approve", migration_tool="prisma", migrations_folder=str(MIGRATIONS))

    ti = states(dagrun)
    assert str(dagrun.state) == "failed"
    assert ti["prepare.validate_batch"] == "failed" and ti["prepare.restore_staging"] == "upstream_failed", ti
    assert not list(env.artifacts.rglob("toc.dat"))  # no snapshot: production's data was not read
    [message] = env.slack.messages
    text = json.dumps(message)
    assert f"{APPLIED[1]}/migration.sql" in text and "prisma migrate resolve --rolled-back" in text
