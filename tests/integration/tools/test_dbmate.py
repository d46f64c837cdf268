"""dbmate (gonogo.tools.dbmate) against the real dbmate 2.36.0 and real PostgreSQL.

The corpus (tests/corpus/dbmate/tracker) is a small issue tracker in dbmate's layout: two
migrations production has (users/projects/issues, comments), seven pending ones (a table
with a unique index whose down section was left empty, an enum type, a foreign key added
to existing tables, a CONCURRENTLY index with transaction:false, an index drop, a rename, an
UPDATE ... FROM backfill). The real dbmate applies the first two, gonogo the rest; dbmate's
own status then says nothing is pending, and dbmate applies the next migration on top.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from gonogo.errors import BatchError
from gonogo.tools.imported import import_batch, pending
from gonogo.tools.dbmate import TOOL
from helpers import pg_dump_schema
from integration.tools.imported_steps import CORPUS, apply_pending, copy_migrations, roll_back, run_file, table_ddl

TRACKER = CORPUS / "dbmate" / "tracker"
MIGRATIONS = TRACKER / "db" / "migrations"
APPLIED = ["20240105120000_create_users_projects_issues", "20240210093000_add_comments"]
PENDING = ["20240301100000_create_labels", "20240315080000_add_issue_priority",
           "20240320090000_add_issues_assignee_fk", "20240402110000_add_comments_author_index",
           "20240405100000_drop_issues_status_index", "20240410140000_rename_issue_body",
           "20240415100000_backfill_issue_comment_count"]
DBMATE_HOME = Path(__file__).resolve().parents[2] / "tools" / "dbmate"


# -- the real dbmate -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def dbmate_bin() -> Path:
    return install_dbmate()


def install_dbmate() -> Path:
    """dbmate 2.36.0 from npm (tests/tools/dbmate: package.json + package-lock.json), installed
    into that folder's node_modules when missing. The Go binary ships inside the npm package
    @dbmate/linux-x64: nothing is downloaded at install or run time."""
    binary = DBMATE_HOME / "node_modules" / ".bin" / "dbmate"
    if not binary.exists():
        if not shutil.which("npm"):
            pytest.fail("dbmate's tests need npm (Node.js) to install dbmate 2.36.0: apt-get install npm")
        # npm install, not npm ci: the lock holds only the linux-x64 binary package (the registry
        # here serves no other platform's), which npm ci calls out of sync; the version is exact
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=DBMATE_HOME, capture_output=True,
                              text=True, timeout=300)
        if done.returncode != 0:
            pytest.fail(f"npm install in {DBMATE_HOME} failed: {done.stderr[-800:]}")
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True).stdout
    assert version.strip() == "dbmate version 2.36.0", version
    return binary


def dbmate(binary: Path, target, folder: Path, *args: str) -> subprocess.CompletedProcess:
    """The real dbmate on a database; the URL (with the password) goes in its environment, not
    on the command line. sslmode=disable: the test clusters have no SSL, which dbmate's driver
    would otherwise ask for; --no-dump-schema: nothing written into the migrations' repo."""
    url = (f"postgres://{quote(target.user)}:{quote(target.password, safe='')}@{target.host}:{target.port}/"
           f"{target.dbname}?sslmode=disable")
    return subprocess.run([str(binary), "--migrations-dir", str(folder), "--no-dump-schema", *args],
                          env={**os.environ, "DATABASE_URL": url}, cwd=folder, capture_output=True, text=True,
                          timeout=60)


def versions(conn) -> list[str]:
    return [v for (v,) in conn.execute("SELECT version FROM public.schema_migrations ORDER BY version")]


@pytest.fixture
def tracker(prod_db, dbmate_bin, tmp_path):
    """Production at the tracker's first two migrations, applied by the real dbmate, with rows."""
    done = dbmate(dbmate_bin, prod_db, copy_migrations(MIGRATIONS, tmp_path / "applied", APPLIED), "migrate")
    assert done.returncode == 0, done.stderr
    with prod_db.connect("tests", guards=None) as conn:
        run_file(conn, TRACKER / "seed.sql")
    return prod_db


# -- 1. the folder, read as dbmate reads it --------------------------------------------------------

def test_migrations_in_file_name_order_each_with_its_section_mode():
    migrations = TOOL.migrations(MIGRATIONS)

    assert [m.name for m in migrations] == APPLIED + PENDING
    assert [m.key for m in migrations] == [n.split("_")[0] for n in APPLIED + PENDING]
    assert {m.name: (m.up.mode, m.down and m.down.mode) for m in migrations} == {
        **{n: ("transaction", "transaction") for n in APPLIED + PENDING},
        "20240301100000_create_labels": ("transaction", None),  # empty down section: no down
        "20240402110000_add_comments_author_index": ("statements", "statements")}  # transaction:false


def test_each_section_keeps_the_files_own_line_numbers():
    for migration in TOOL.migrations(MIGRATIONS):
        lines = migration.up.path.read_text().split("\n")
        for section in (migration.up, migration.down):
            for statement in section.statements if section else ():
                assert statement.sql.split("\n")[0] in lines[statement.line - 1], (migration.name, statement.line)
    labels = TOOL.migrations(MIGRATIONS)[2]
    assert [s.line for s in labels.up.statements] == [2, 9, 11]


def test_a_syntax_error_names_the_file_and_its_line(tmp_path):
    path = tmp_path / "20240501000000_broken.sql"
    path.write_text("-- migrate:up\ncreate table a (id int);\n\ncreate tabel b (id int);\n\n"
                    "-- migrate:down\ndrop table a;\n")
    with pytest.raises(BatchError, match=rf"{re.escape(str(path))} line 4: syntax error at or near \"tabel\""):
        TOOL.migrations(tmp_path)
    path.write_text("-- migrate:up\ncreate table a (id int);\n\n-- migrate:down\n\ndrop tabel a;\n")
    with pytest.raises(BatchError, match=rf"{re.escape(str(path))} line 6: syntax error"):
        TOOL.migrations(tmp_path)


@pytest.mark.parametrize("text, expected", [
    ("create table a (id int);\n", "no '-- migrate:up' line"),
    ("-- migrate:up\ncreate table a (id int);\n", "no '-- migrate:down' line; dbmate 2.36.0 refuses"),
    ("-- migrate:down\ndrop table a;\n-- migrate:up\ncreate table a (id int);\n", "comes before '-- migrate:up'"),
    ("-- a comment is fine\n\nset lock_timeout = '1s';\n-- migrate:up\nselect 1;\n-- migrate:down\n",
     "line 3: a statement before '-- migrate:up'"),
], ids=["no_up", "no_down", "down_first", "statement_before_up"])
def test_a_file_dbmate_refuses_is_a_batch_error_naming_it(tmp_path, text, expected):
    (tmp_path / "20240401000000_fine.sql").write_text("-- migrate:up\nselect 1;\n-- migrate:down\n")
    path = tmp_path / "20240501000000_odd.sql"
    path.write_text(text)
    with pytest.raises(BatchError, match=re.escape(str(path))) as raised:
        TOOL.migrations(tmp_path)
    assert expected in str(raised.value)


def test_a_byte_that_is_not_utf8_names_the_file_and_line(tmp_path):
    path = tmp_path / "20240501000000_latin1.sql"
    path.write_bytes(b"-- migrate:up\ninsert into t values ('caf\xe9');\n-- migrate:down\n")
    with pytest.raises(BatchError, match=rf"{re.escape(str(path))} line 2: byte 0xe9 is not UTF-8"):
        TOOL.migrations(tmp_path)


def test_two_files_with_one_version_stop_the_import(tmp_path):
    for name in ("20240501000000_a.sql", "20240501000000_b.sql"):
        (tmp_path / name).write_text("-- migrate:up\nselect 1;\n-- migrate:down\n")
    with pytest.raises(BatchError, match=r"20240501000000_b.sql: version 20240501000000 is also 20240501000000_a"):
        TOOL.migrations(tmp_path)


def test_a_folder_of_another_layout_or_an_unknown_tool_is_a_batch_error():
    with pytest.raises(BatchError, match=r"no dbmate migrations here; dbmate's layout is db/migrations/<version>_"):
        import_batch("dbmate", CORPUS / "flyway" / "tracker" / "db" / "migration")
    with pytest.raises(BatchError, match=r"no dbmate migrations here"):
        import_batch("dbmate", CORPUS / "prisma" / "tracker" / "prisma" / "migrations")
    # golang-migrate's files match dbmate's file name pattern, but none has a section
    with pytest.raises(BatchError, match=r"no dbmate migrations here"):
        import_batch("dbmate", CORPUS / "golang-migrate" / "tracker" / "db" / "migrations")
    with pytest.raises(BatchError, match=r"unknown migration tool 'liquibase': gonogo imports .*dbmate"):
        import_batch("liquibase", MIGRATIONS)


# -- 2. what production has, as dbmate recorded it ------------------------------------------------

def test_pending_keeps_only_what_dbmate_has_not_applied(tracker):
    with tracker.connect("tests", guards=None) as conn:
        batch = pending(import_batch("dbmate", MIGRATIONS), conn)
    assert [s.name for s in batch.steps] == PENDING
    assert [m.name for m in batch.applied_before] == APPLIED
    assert [s.rollback_source for s in batch.steps][:1] == ["drafted by gonogo (review it)"]


def test_an_older_file_added_later_is_pending_for_gonogo_as_for_dbmate(tracker, dbmate_bin, tmp_path):
    folder = copy_migrations(MIGRATIONS, tmp_path / "migrations")
    (folder / "20240201000000_add_projects_archived.sql").write_text(
        "-- migrate:up\nalter table projects add column archived boolean not null default false;\n\n"
        "-- migrate:down\nalter table projects drop column archived;\n")
    with tracker.connect("tests", guards=None) as conn:
        batch = pending(import_batch("dbmate", folder), conn)
    assert [s.name for s in batch.steps] == ["20240201000000_add_projects_archived", *PENDING]
    status = dbmate(dbmate_bin, tracker, folder, "status").stdout
    assert "[ ] 20240201000000_add_projects_archived.sql" in status and "Pending: 8" in status


# -- 3. gonogo writes dbmate's rows, in each step's transaction -----------------------------------

def test_gonogo_writes_the_rows_and_the_schema_the_real_dbmate_writes(tracker, make_database, dbmate_bin):
    with tracker.connect("tests", guards=None) as conn:
        batch = pending(import_batch("dbmate", MIGRATIONS), conn)
        run = apply_pending(conn, batch)
        assert run.ok, run.error
        assert versions(conn) == [n.split("_")[0] for n in APPLIED + PENDING]
        # written by the migration's own transaction: the row and the table it created share one xmin
        assert conn.execute("SELECT xmin::text FROM schema_migrations WHERE version = '20240301100000'").fetchone() \
            == conn.execute("SELECT xmin::text FROM pg_class WHERE oid = 'labels'::regclass").fetchone()

    by_dbmate = make_database("production", "dbmate")
    assert dbmate(dbmate_bin, by_dbmate, MIGRATIONS, "migrate").returncode == 0
    with by_dbmate.connect("tests", guards=None) as conn:
        assert versions(conn) == [n.split("_")[0] for n in APPLIED + PENDING]
    assert pg_dump_schema(tracker) == pg_dump_schema(by_dbmate)


def test_on_an_empty_database_gonogo_creates_schema_migrations_as_dbmate_does(prod_db, make_database, dbmate_bin):
    with prod_db.connect("tests", guards=None) as conn:
        batch = pending(import_batch("dbmate", MIGRATIONS), conn)
        assert [s.name for s in batch.steps] == APPLIED + PENDING
        run = apply_pending(conn, batch)
        assert run.ok, run.error
    by_dbmate = make_database("production", "dbmate")
    assert dbmate(dbmate_bin, by_dbmate, MIGRATIONS, "migrate").returncode == 0

    assert table_ddl(prod_db, "public.schema_migrations") == table_ddl(by_dbmate, "public.schema_migrations")
    assert "version character varying NOT NULL" in table_ddl(prod_db, "public.schema_migrations")


def test_a_step_that_fails_mid_file_leaves_no_row(tracker, tmp_path):
    folder = copy_migrations(MIGRATIONS, tmp_path / "migrations", APPLIED)
    (folder / "20240301100000_create_labels.sql").write_text(
        "-- migrate:up\ncreate table labels (id bigserial primary key, project_id bigint not null "
        "references projects (id), name text not null);\n"
        "insert into labels (project_id, name) values (999999, 'no such project');\n\n"
        "-- migrate:down\ndrop table labels;\n")
    with tracker.connect("tests", guards=None) as conn:
        batch = pending(import_batch("dbmate", folder), conn)
        run = apply_pending(conn, batch)
        assert run.failed_step == "20240301100000_create_labels"
        assert "line 3 failed (SQLSTATE 23503)" in run.error
        assert versions(conn) == [n.split("_")[0] for n in APPLIED]
        assert conn.execute("SELECT to_regclass('labels')").fetchone()[0] is None


def test_rolling_back_removes_the_rows_and_dbmate_sees_them_pending(tracker, dbmate_bin):
    before = pg_dump_schema(tracker)
    with tracker.connect("tests", guards=None) as conn:
        batch = pending(import_batch("dbmate", MIGRATIONS), conn)
        assert apply_pending(conn, batch).ok
        run = roll_back(conn, batch)
        assert run.ok, run.error
        assert run.applied == list(reversed(PENDING))
        assert versions(conn) == [n.split("_")[0] for n in APPLIED]
    assert pg_dump_schema(tracker) == before
    status = dbmate(dbmate_bin, tracker, MIGRATIONS, "status", "--exit-code")
    assert status.returncode == 1 and "Applied: 2" in status.stdout and "Pending: 7" in status.stdout


# -- 4. after gonogo, dbmate goes on as usual -----------------------------------------------------

def test_after_gonogo_dbmate_has_nothing_pending_and_applies_the_next_migration(tracker, dbmate_bin, tmp_path):
    with tracker.connect("tests", guards=None) as conn:
        assert apply_pending(conn, pending(import_batch("dbmate", MIGRATIONS), conn)).ok

    status = dbmate(dbmate_bin, tracker, MIGRATIONS, "status", "--exit-code")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "Applied: 9" in status.stdout and "Pending: 0" in status.stdout

    folder = copy_migrations(MIGRATIONS, tmp_path / "migrations")
    (folder / "20240501090000_add_issue_due_date.sql").write_text(
        "-- migrate:up\nalter table issues add column due_on date;\n\n"
        "-- migrate:down\nalter table issues drop column due_on;\n")
    up = dbmate(dbmate_bin, tracker, folder, "migrate")
    assert up.returncode == 0, up.stderr
    assert up.stdout.count("Applying:") == 1 and "20240501090000_add_issue_due_date.sql" in up.stdout
    status = dbmate(dbmate_bin, tracker, folder, "status", "--exit-code")
    assert status.returncode == 0
    assert [line for line in status.stdout.splitlines() if line.startswith("[")] == [
        f"[X] {name}.sql" for name in [*APPLIED, *PENDING, "20240501090000_add_issue_due_date"]]
    with tracker.connect("tests", guards=None) as conn:
        assert conn.execute("SELECT count(*) FROM issues").fetchone()[0] == 3000
