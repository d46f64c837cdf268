"""Alembic (gonogo.tools.alembic) against the real Alembic (gonogo's pinned 1.20.1) and real
PostgreSQL.

The corpus is tests/corpus/alembic/tracker: the tracker app's alembic.ini, env.py and five
revisions (tables, foreign keys once both tables exist, an enum, an UPDATE ... FROM backfill,
a column rename and a CONCURRENTLY index in an autocommit_block). The real `alembic upgrade`
applies the first revisions, gonogo the rest from the SQL Alembic generates offline, and the
real `alembic current --check-heads` must then pass; the schema gonogo leaves is compared with
the one `alembic upgrade head` leaves.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gonogo.errors import BatchError
from gonogo.tools.imported import import_batch, pending
from gonogo.apply.steps import Ledger, apply_steps, rollback_steps
from gonogo.tools import get
from helpers import pg_dump_schema

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "alembic" / "tracker"
REVISIONS = ["3f1c9a2b7d10", "8a4e2c6f1b93", "c27d5e0f4a61", "51b0d8e3c7f2", "e9f3a7b2d485"]
NOT_ON_HEADS = "Database is not on all head revisions"  # logged by env.py's logging as ERROR


def quiet(_: str) -> None:
    pass


def alembic(folder: Path, target, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The real alembic, online, as the team runs it: env.py takes DATABASE_URL."""
    url = f"postgresql+psycopg://{target.user}@{target.host}:{target.port}/{target.dbname}"
    done = subprocess.run([sys.executable, "-m", "alembic", *args], cwd=folder, capture_output=True, text=True,
                          env={**target.libpq_env(), "PATH": "/usr/bin:/bin", "DATABASE_URL": url}, timeout=120)
    if check:
        assert done.returncode == 0, f"alembic {' '.join(args)}: rc {done.returncode}\n{done.stdout}{done.stderr}"
    return done


def on_heads(folder: Path, target) -> bool:
    """notes/tools.md 6.5: `alembic current --check-heads` exits 0 when every head is applied."""
    done = alembic(folder, target, "current", "--check-heads", check=False)
    assert done.returncode == 0 or NOT_ON_HEADS in done.stderr, done.stderr
    return done.returncode == 0


@pytest.fixture
def project(tmp_path) -> Path:
    folder = tmp_path / "tracker"
    shutil.copytree(CORPUS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def seed(conn) -> None:
    conn.execute((CORPUS / "seed.sql").read_text())


def write_revision(project: Path, revision: str, down: str | tuple[str, ...] | None, upgrade: str,
                   downgrade: str = "pass", name: str = "next") -> Path:
    path = project / "migrations" / "versions" / f"{revision}_{name}.py"
    path.write_text(f'"""{name}"""\nfrom alembic import op\nimport sqlalchemy as sa\n\n'
                    f"revision = {revision!r}\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
                    f"def upgrade() -> None:\n    {upgrade}\n\n\ndef downgrade() -> None:\n    {downgrade}\n")
    return path


def test_migrations_are_the_revisions_as_alembic_writes_their_sql(project, prod_db):
    migrations = get("alembic").migrations(project)
    history = alembic(project, prod_db, "history").stdout  # head first: "<down> -> <rev> (head), message"
    assert [m.key for m in migrations] == REVISIONS == [line.split(" -> ")[1].split()[0].rstrip(",")
                                                        for line in reversed(history.strip().splitlines())]
    versions = project / "migrations" / "versions"
    first = migrations[0]
    assert first.name == "3f1c9a2b7d10_create_users_and_projects"
    assert first.up.path == versions / "3f1c9a2b7d10_create_users_and_projects.upgrade.sql"
    assert first.down.path == versions / "3f1c9a2b7d10_create_users_and_projects.downgrade.sql"
    assert not first.up.path.exists() and first.checksum is None
    assert {m.up.mode for m in migrations} == {"transaction"}
    # Alembic's own transaction and its alembic_version writes are in the SQL
    assert [s.sql for s in first.up.statements][:2] == [
        "BEGIN", "CREATE TABLE IF NOT EXISTS alembic_version (\n    version_num VARCHAR(32) NOT NULL, \n"
                 "    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n)"]
    assert first.up.statements[-2].sql == ("INSERT INTO alembic_version (version_num) VALUES ('3f1c9a2b7d10') "
                                           "RETURNING alembic_version.version_num")
    assert migrations[1].up.statements[-2].sql == (
        "UPDATE alembic_version SET version_num='8a4e2c6f1b93' WHERE alembic_version.version_num = '3f1c9a2b7d10'")
    assert first.down.statements[-2].sql == (
        "DELETE FROM alembic_version WHERE alembic_version.version_num = '3f1c9a2b7d10'")
    # the foreign keys once both tables exist, the backfill, the rename, the CONCURRENTLY index alone
    assert "ALTER TABLE issues ADD CONSTRAINT issues_project_id_fkey FOREIGN KEY(project_id) REFERENCES projects (id)" \
        in [s.sql for s in migrations[1].up.statements]
    assert migrations[3].up.statements[5].sql.startswith("UPDATE issues\n           SET closed_at = last.created_at")
    assert [s.sql for s in migrations[4].up.statements] == [
        "BEGIN", "ALTER TABLE issues RENAME body TO description", "COMMIT",
        "CREATE INDEX CONCURRENTLY comments_author_id_idx ON comments (author_id)", "BEGIN",
        "UPDATE alembic_version SET version_num='e9f3a7b2d485' WHERE alembic_version.version_num = '51b0d8e3c7f2'",
        "COMMIT"]
    assert [s.line for s in migrations[4].up.statements][:2] == [1, 5]


def test_a_revision_alembic_cannot_render_names_its_file(project):
    path = write_revision(project, "7c0de1f2a3b4", "e9f3a7b2d485", name="default_labels", upgrade=(
        "for (pid,) in op.get_bind().execute(sa.text('SELECT id FROM projects')).fetchall():\n"
        "        op.execute(f'UPDATE projects SET name = name WHERE id = {pid}')"))
    with pytest.raises(BatchError) as caught:
        get("alembic").migrations(project)
    message = str(caught.value)
    assert message.startswith(f"{path}: `alembic upgrade e9f3a7b2d485:7c0de1f2a3b4 --sql` failed (exit 1):")
    assert "AttributeError: 'NoneType' object has no attribute 'fetchall'" in message
    assert f'File "{path}", line 12, in upgrade' in message
    assert "What to do: run `alembic upgrade e9f3a7b2d485:7c0de1f2a3b4 --sql` in" in message


def test_an_env_py_that_fails_offline_names_the_revision_and_the_reason(project):
    env = project / "migrations" / "env.py"
    env.write_text(env.read_text().replace('if os.environ.get("DATABASE_URL"):\n    ', "if True:\n    "))
    with pytest.raises(BatchError, match=r"(?s)3f1c9a2b7d10_create_users_and_projects\.py: `alembic upgrade "
                                         r"base:3f1c9a2b7d10 --sql` failed \(exit 1\):.*KeyError: 'DATABASE_URL'"):
        get("alembic").migrations(project)


def test_branches_merges_and_other_layouts_are_refused_with_what_to_do(project):
    versions = project / "migrations" / "versions"
    branch = write_revision(project, "aa11bb22cc33", "c27d5e0f4a61", "pass", name="side_branch")
    with pytest.raises(BatchError, match=r"51b0d8e3c7f2_issue_priority_and_closed_at\.py, aa11bb22cc33_side_branch"
                                         r"\.py all revise c27d5e0f4a61: a branch\. What to do: gonogo imports one "
                                         r"line of revisions"):
        get("alembic").migrations(project)
    merge = write_revision(project, "dd44ee55ff66", ("e9f3a7b2d485", "aa11bb22cc33"), "pass", name="merge_heads")
    with pytest.raises(BatchError, match=rf"{merge}: revision dd44ee55ff66 merges e9f3a7b2d485, aa11bb22cc33"):
        get("alembic").migrations(project)
    merge.unlink()
    branch.write_text(branch.read_text().replace("down_revision = 'c27d5e0f4a61'", "down_revision = 'ffffffffffff'"))
    with pytest.raises(BatchError, match=rf"{branch}: down_revision ffffffffffff is no revision in {versions}"):
        get("alembic").migrations(project)
    branch.write_text("revision = 'aa11bb22cc33'\ndown_revision = (\n")
    with pytest.raises(BatchError, match=rf"{branch} line 2: '\(' was never closed"):
        get("alembic").migrations(project)
    branch.unlink()
    with pytest.raises(BatchError, match=r"no alembic\.ini here; Alembic's layout is alembic\.ini whose "
                                         r"script_location holds env\.py"):
        get("alembic").migrations(CORPUS.parents[1] / "sqitch" / "tracker")


def test_pending_keeps_the_revisions_after_the_current_head(project, prod_db, prod_conn):
    alembic(project, prod_db, "upgrade", "c27d5e0f4a61")
    seed(prod_conn)
    batch = pending(import_batch("alembic", project), prod_conn)
    assert [s.origin.key for s in batch.steps] == REVISIONS[3:]
    assert [m.key for m in batch.applied_before] == REVISIONS[:3]
    assert [s.rollback_source for s in batch.steps] == ["the migration tool's down file"] * 2
    assert [s.kind for s in batch.steps] == ["backfill", "schema"]
    assert batch.history_objects == ("gonogo.", "public.alembic_version")


def test_gonogo_applies_as_alembic_does_and_alembic_goes_on(project, make_database):
    ours, theirs = make_database("production", "alembic_ours"), make_database("production", "alembic_theirs")
    alembic(project, ours, "upgrade", "c27d5e0f4a61")
    alembic(project, theirs, "upgrade", "c27d5e0f4a61")
    with ours.connect("tests", guards=None) as conn, theirs.connect("tests", guards=None) as other:
        seed(conn)
        seed(other)
        batch = pending(import_batch("alembic", project), conn)
        ledger = Ledger(batch, "run-1")
        run = apply_steps(conn, list(batch.steps), phase="production", live_traffic=False, log=quiet, ledger=ledger)
        assert run.ok, run.error
        alembic(project, theirs, "upgrade", "head")
        assert on_heads(project, ours)
        assert alembic(project, ours, "current").stdout.strip() == "e9f3a7b2d485 (head)"
        assert conn.execute("TABLE alembic_version").fetchall() == other.execute("TABLE alembic_version").fetchall()
        assert pg_dump_schema(ours) == pg_dump_schema(theirs)
        closed = "SELECT count(closed_at), count(*) FROM issues WHERE status = 'closed'"
        assert conn.execute(closed).fetchone() == other.execute(closed).fetchone() == (1333, 1333)

        # the team's next revision, applied by Alembic on top of gonogo's
        write_revision(project, "0b7e3d9c5a21", "e9f3a7b2d485", name="watchers", upgrade=(
            "op.create_table('watchers', sa.Column('user_id', sa.BigInteger(), sa.ForeignKey('users.id'), "
            "primary_key=True), sa.Column('issue_id', sa.BigInteger(), sa.ForeignKey('issues.id'), primary_key=True))"),
            downgrade="op.drop_table('watchers')")
        assert not on_heads(project, ours)
        assert "Running upgrade e9f3a7b2d485 -> 0b7e3d9c5a21" in alembic(project, ours, "upgrade", "head").stderr
        assert on_heads(project, ours)

        # Alembic takes its revision back, gonogo its own: Alembic sees them pending again
        alembic(project, ours, "downgrade", "e9f3a7b2d485")
        rolled = rollback_steps(conn, list(batch.steps), phase="production", log=quiet, ledger=ledger)
        assert rolled.ok, rolled.error
        assert alembic(project, ours, "current").stdout.strip() == "c27d5e0f4a61"
        assert not on_heads(project, ours)
        assert conn.execute("SELECT to_regtype('issue_priority')").fetchone()[0] is None
        # and Alembic applies them all again, normally
        alembic(project, ours, "upgrade", "head")
        assert on_heads(project, ours)


def test_a_failing_revision_leaves_alembic_version_where_it_was(project, prod_db, prod_conn):
    alembic(project, prod_db, "upgrade", "c27d5e0f4a61")
    seed(prod_conn)
    path = project / "migrations" / "versions" / "51b0d8e3c7f2_issue_priority_and_closed_at.py"
    # a dangerous change: every existing issue has a NULL estimate
    path.write_text(path.read_text().replace(
        '    op.add_column("issues", sa.Column("closed_at"',
        '    op.alter_column("issues", "estimate", nullable=False)\n    op.add_column("issues", sa.Column("closed_at"'))
    batch = pending(import_batch("alembic", project), prod_conn)
    run = apply_steps(prod_conn, list(batch.steps), phase="production", live_traffic=False, log=quiet,
                      ledger=Ledger(batch, "run-1"))
    assert run.failed_step == "51b0d8e3c7f2_issue_priority_and_closed_at"
    assert "51b0d8e3c7f2_issue_priority_and_closed_at.upgrade.sql line 11 failed (SQLSTATE 23502)" in run.error
    assert prod_conn.execute("TABLE alembic_version").fetchall() == [("c27d5e0f4a61",)]
    assert prod_conn.execute("SELECT to_regtype('issue_priority')").fetchone()[0] is None
    assert alembic(project, prod_db, "current").stdout.strip() == "c27d5e0f4a61"


def test_from_an_empty_database_and_back_to_base_and_again(project, prod_db, prod_conn):
    batch = pending(import_batch("alembic", project), prod_conn)
    assert len(batch.steps) == 5 and batch.applied_before == ()
    ledger = Ledger(batch, "run-1")
    assert apply_steps(prod_conn, list(batch.steps), phase="production", live_traffic=False, log=quiet,
                       ledger=ledger).ok
    assert on_heads(project, prod_db)
    assert rollback_steps(prod_conn, list(batch.steps), phase="production", log=quiet, ledger=ledger).ok
    # Alembic keeps its table at base, empty; the first revision applies there again
    assert prod_conn.execute("TABLE alembic_version").fetchall() == []
    again = pending(import_batch("alembic", project), prod_conn)
    assert len(again.steps) == 5
    assert apply_steps(prod_conn, list(again.steps), phase="production", live_traffic=False, log=quiet,
                       ledger=Ledger(again, "run-2")).ok
    assert on_heads(project, prod_db)


def test_a_head_no_revision_file_has_stops_the_import(project, prod_db, prod_conn):
    alembic(project, prod_db, "upgrade", "8a4e2c6f1b93")
    prod_conn.execute("UPDATE alembic_version SET version_num = '0123456789ab'")
    with pytest.raises(BatchError, match=r"versions: alembic_version says this database is at 0123456789ab, which "
                                         r"no revision file has"):
        pending(import_batch("alembic", project), prod_conn)
    assert "Can't locate revision identified by '0123456789ab'" in alembic(project, prod_db, "current",
                                                                           check=False).stderr
