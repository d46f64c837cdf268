"""Prisma: a team's prisma/migrations folder as a batch, against real PostgreSQL, and the real
Prisma CLI's status after gonogo applied the pending migrations.

The corpus (tests/corpus/prisma/tracker) is written here in the shape `prisma migrate dev`
generates: a new model with @unique (CREATE TABLE + CREATE UNIQUE INDEX in one file), an
implicit many-to-many table, enums, foreign keys added after both tables.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gonogo.batch import load_batch
from gonogo.errors import BatchError
from gonogo.tools.imported import import_batch, pending
from gonogo.apply.steps import Ledger, apply_steps, rollback_steps
from prisma_app import APPLIED, MIGRATIONS, PENDING, TRACKER, deploy_as_prisma_does, prisma_status


PROJECT = Path(__file__).resolve().parents[3]


@pytest.fixture
def tracker(prod_db):
    """The tracker app at its first two migrations, applied as Prisma does, with its rows."""
    with prod_db.connect("tests/setup", guards=None) as conn:
        deploy_as_prisma_does(conn, MIGRATIONS, APPLIED)
        conn.execute((TRACKER / "seed.sql").read_text())
    return prod_db


def rows(target) -> dict[str, tuple]:
    with target.connect("tests", guards=None) as conn:
        return {name: rest for name, *rest in conn.execute(
            'SELECT migration_name, checksum, finished_at IS NOT NULL, rolled_back_at, logs, applied_steps_count '
            'FROM "_prisma_migrations" ORDER BY started_at')}


def test_the_folder_reads_as_prisma_runs_it():
    batch = import_batch("prisma", MIGRATIONS)
    assert [s.name for s in batch.steps] == APPLIED + PENDING
    assert {s.mode for s in batch.steps} == {"transaction"}  # migration.sql is one implicit transaction
    assert [s.origin.checksum for s in batch.steps] == [
        hashlib.sha256((MIGRATIONS / n / "migration.sql").read_bytes()).hexdigest() for n in APPLIED + PENDING]
    labels = batch.step("20240301100000_add_labels")
    assert labels.rollback_drafted and labels.rollback_source == "drafted by gonogo (review it)"
    drops = [s.sql for s in labels.rollback.statements]
    # the new tables' indexes and foreign keys go with their DROP TABLE, in reverse order
    assert drops == ['DROP TABLE IF EXISTS "_IssueToLabel"', 'DROP TABLE IF EXISTS "Label"']
    estimates = [s.sql for s in batch.step("20240315080000_issue_estimates").rollback.statements]
    assert estimates == ['DROP TABLE IF EXISTS "Watch"', *(f'ALTER TABLE "Issue" DROP COLUMN IF EXISTS "{c}"'
                                                            for c in ("priority", "estimate", "closedAt")),
                         'DROP TYPE IF EXISTS "Priority"']
    made = batch.created_tables()
    assert made["Label"] == made["_IssueToLabel"] == "20240301100000_add_labels"
    assert made["Watch"] == "20240315080000_issue_estimates" and made["Issue"] == "20240105120000_init"


def test_only_what_production_has_not_applied_is_pending(tracker):
    with tracker.connect("tests", guards=None) as conn:
        found = pending(import_batch("prisma", MIGRATIONS), conn)
    assert [s.name for s in found.steps] == PENDING
    assert [m.name for m in found.applied_before] == APPLIED


def test_a_failed_or_edited_migration_stops_the_import_with_what_to_do(tracker, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, folder)
    edited = folder / APPLIED[1] / "migration.sql"
    with tracker.connect("tests", guards=None) as conn:
        # line endings switched: Prisma forgives that, and so does gonogo
        edited.write_bytes(edited.read_bytes().replace(b"\n", b"\r\n"))
        assert [s.name for s in pending(import_batch("prisma", folder), conn).steps] == PENDING
        edited.write_text(edited.read_text() + "\n-- a later edit\n")
        with pytest.raises(BatchError) as caught:
            pending(import_batch("prisma", folder), conn)
        assert str(edited) in str(caught.value) and "edited after it ran" in str(caught.value)
        conn.execute('UPDATE "_prisma_migrations" SET finished_at = NULL WHERE migration_name = %s', [APPLIED[0]])
        with pytest.raises(BatchError) as caught:
            pending(import_batch("prisma", MIGRATIONS), conn)
    message = str(caught.value)
    assert str(MIGRATIONS / APPLIED[0] / "migration.sql") in message
    assert "finished_at is NULL" in message and f"prisma migrate resolve --rolled-back {APPLIED[0]}" in message


def test_a_database_with_tables_but_no_prisma_history_is_not_taken_for_an_empty_one(prod_db):
    with prod_db.connect("tests", guards=None) as conn:
        conn.execute((MIGRATIONS / APPLIED[0] / "migration.sql").read_text())
        with pytest.raises(BatchError) as caught:
            pending(import_batch("prisma", MIGRATIONS), conn)
    assert "no prisma history" in str(caught.value) and "prisma migrate resolve --applied" in str(caught.value)


def test_gonogo_writes_prismas_row_in_the_migrations_own_transaction(tracker, tmp_path):
    with tracker.connect("tests/apply") as conn:
        batch = pending(import_batch("prisma", MIGRATIONS), conn)
        run = apply_steps(conn, list(batch.steps), phase="production", live_traffic=False, log=lambda _: None,
                          ledger=Ledger(batch, "run-1"))
    assert run.ok, run.error
    recorded = rows(tracker)
    assert list(recorded) == APPLIED + PENDING
    for name in PENDING:
        checksum, finished, rolled_back, logs, steps = recorded[name]
        assert checksum == hashlib.sha256((MIGRATIONS / name / "migration.sql").read_bytes()).hexdigest()
        assert finished and rolled_back is None and logs is None and steps == 1

    # rolled back: the drafted rollbacks drop what the migrations made, and Prisma's rows go with them
    with tracker.connect("tests/rollback") as conn:
        undone = rollback_steps(conn, list(batch.steps), phase="production", log=lambda _: None,
                                ledger=Ledger(batch, "run-1"))
        assert undone.ok, undone.error
        assert conn.execute("SELECT to_regclass('\"Label\"')").fetchone()[0] is None
    assert list(rows(tracker)) == APPLIED


def test_a_migration_that_fails_half_way_leaves_no_row_and_nothing_of_itself(tracker, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, folder)
    broken = folder / "20240401000000_broken"
    broken.mkdir()
    (broken / "migration.sql").write_text('CREATE TABLE "Sprint" ("id" SERIAL NOT NULL);\n'
                                          'ALTER TABLE "Issue" ADD COLUMN "sprintId" INTEGER;\n'
                                          'ALTER TABLE "Nowhere" ADD COLUMN "x" INTEGER;\n')
    with tracker.connect("tests/apply") as conn:
        batch = pending(import_batch("prisma", folder), conn)
        run = apply_steps(conn, list(batch.steps), phase="production", live_traffic=False, log=lambda _: None,
                          ledger=Ledger(batch, "run-2"))
        assert run.failed_step == "20240401000000_broken" and "line 3" in run.error
        assert conn.execute("SELECT to_regclass('\"Sprint\"')").fetchone()[0] is None  # one transaction
    assert "20240401000000_broken" not in rows(tracker)
    assert set(PENDING) <= set(rows(tracker))


def test_a_statement_no_draft_can_undo_asks_for_the_teams_rollback(tracker, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, folder)
    renamed = folder / "20240402110000_issue_summary"
    renamed.mkdir()
    (renamed / "migration.sql").write_text(
        '-- hand-edited: rename rather than drop and re-add\n'
        'ALTER TABLE "Issue" RENAME COLUMN "body" TO "summary";\n')
    with tracker.connect("tests", guards=None) as conn:
        with pytest.raises(BatchError) as caught:
            pending(import_batch("prisma", folder), conn)
        assert (f"write the rollback for {renamed / 'migration.sql'} line 2: ALTER TABLE \"Issue\" RENAME COLUMN"
                in str(caught.value))
        batch_folder = tmp_path / "batch"
        (batch_folder / "rollbacks").mkdir(parents=True)
        (batch_folder / "rollbacks" / f"{renamed.name}.sql").write_text(
            'ALTER TABLE "Issue" RENAME COLUMN "summary" TO "body";\n')
        batch = pending(import_batch("prisma", folder, batch_folder=batch_folder), conn)
    assert batch.step(renamed.name).rollback_source == "written by the team"


def test_import_write_makes_the_folder_the_missing_rollback_goes_into_then_stops(tracker, tmp_path):
    """The trial: production has pending steps, one needs a hand-written rollback; the message
    says to use --write, so --write must write the folder (and still exit 2 until it is done)."""
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, folder)
    renamed = folder / "20240402110000_issue_summary"
    renamed.mkdir()
    (renamed / "migration.sql").write_text('ALTER TABLE "Issue" RENAME COLUMN "body" TO "summary";\n')
    env = {**os.environ, "GONOGO_TEST_PRODUCTION": f"postgresql://{tracker.user}:{tracker.password}@{tracker.host}:{tracker.port}/{tracker.dbname}"}
    done = subprocess.run([sys.executable, "-m", "gonogo", "import", "prisma", str(folder),
                           "--production-env", "GONOGO_TEST_PRODUCTION", "--write", str(tmp_path / "batches")],
                          env=env, capture_output=True, text=True, timeout=120, cwd=PROJECT)
    assert done.returncode == 2, done.stdout + done.stderr
    [written] = (tmp_path / "batches").iterdir()
    drafted = sorted(p.name for p in (written / "rollbacks").iterdir())
    assert drafted == [f"{name}.sql" for name in PENDING]  # drafts of the additive pending steps, nothing else
    assert (written / "manifest.yaml").is_file()
    assert f"Wrote {written}: manifest.yaml and 2 drafted rollbacks to review in {written / 'rollbacks'}." in done.stdout
    todo = written / "rollbacks" / f"{renamed.name}.sql"
    assert f"still to write: {todo}" in done.stdout
    assert f"write the rollback of each step as rollbacks/<step>.sql in the batch folder {written}" in done.stderr
    assert f"write the rollback for {renamed / 'migration.sql'} line 1" in done.stdout  # under its step
    assert "1 statement listed above has no rollback gonogo can draft" in done.stderr  # and not again
    assert str(renamed / "migration.sql") not in done.stderr
    assert f"python -m gonogo lint {written} --production-env GONOGO_TEST_PRODUCTION" in done.stdout
    # the tool's folder linted as the DAG's gate lints it: only what production lacks (the flag
    # was ignored for a folder: every migration linted, the applied ones' findings included)
    linted = subprocess.run([sys.executable, "-m", "gonogo", "lint", str(folder), "--production-env",
                             "GONOGO_TEST_PRODUCTION", "--format", "json"],
                            env=env, capture_output=True, text=True, timeout=120, cwd=PROJECT)
    assert linted.returncode in (0, 1), linted.stdout + linted.stderr
    assert [s["step"] for s in json.loads(linted.stdout)["steps"]] == [*PENDING, renamed.name]
    assert any(f["rule"] == "rename" for f in json.loads(linted.stdout)["findings"])

    todo.write_text('ALTER TABLE "Issue" RENAME COLUMN "summary" TO "body";\n')
    with tracker.connect("tests", guards=None) as conn:
        batch = pending(load_batch(written.name, written.parent), conn)
    assert [s.name for s in batch.steps] == [*PENDING, renamed.name]
    assert batch.step(renamed.name).rollback_source == "written by the team"


# -- the real Prisma CLI ------------------------------------------------------------------------------

def test_after_gonogo_prisma_itself_finds_nothing_pending(tracker, tmp_path):
    project = tmp_path / "app"
    shutil.copytree(TRACKER / "prisma", project / "prisma")
    before = prisma_status(project, tracker)
    assert before.returncode == 1 and all(name in before.stdout for name in PENDING), before.stdout + before.stderr

    with tracker.connect("tests/apply") as conn:
        batch = pending(import_batch("prisma", project / "prisma" / "migrations"), conn)
        assert apply_steps(conn, list(batch.steps), phase="production", live_traffic=False, log=lambda _: None,
                           ledger=Ledger(batch, "run-3")).ok

    after = prisma_status(project, tracker)
    assert after.returncode == 0 and "Database schema is up to date!" in after.stdout, after.stdout + after.stderr

    later = project / "prisma" / "migrations" / "20240501000000_add_milestones"
    later.mkdir()
    (later / "migration.sql").write_text('CREATE TABLE "Milestone" ("id" SERIAL NOT NULL, "name" TEXT NOT NULL,\n'
                                         '    CONSTRAINT "Milestone_pkey" PRIMARY KEY ("id"));\n')
    news = prisma_status(project, tracker)
    assert news.returncode == 1 and later.name in news.stdout and PENDING[0] not in news.stdout, news.stdout
