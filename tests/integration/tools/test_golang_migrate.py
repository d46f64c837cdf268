"""golang-migrate (gonogo.tools.golang_migrate) on real PostgreSQL.

No golang-migrate binary can be installed here (no Debian, PyPI or npm package, and building
it needs the Go module proxy), so "applied as golang-migrate does" is written below from its
source, golang-migrate/migrate:
- database/postgres/postgres.go, ensureVersionTable: the table's DDL;
- database/postgres/postgres.go, SetVersion: `TRUNCATE; INSERT (version, dirty)` in one
  transaction, no INSERT for the nil version (-1) unless dirty;
- migrate.go, runMigrations: SetVersion(v, true), the file as one Exec (lib/pq, no arguments:
  the simple query protocol), SetVersion(v, false).
The corpus (tests/corpus/golang-migrate/tracker) is the issue tracker in golang-migrate's
layout (migrate create -ext sql -dir db/migrations -seq): two migrations production has, seven
pending, one of them (000003) without a down file, one (000009) with its own BEGIN/COMMIT.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from gonogo.errors import BatchError
from gonogo.tools.imported import import_batch, pending
from gonogo.tools.golang_migrate import TOOL
from helpers import pg_dump_schema
from integration.tools.imported_steps import CORPUS, apply_pending, copy_migrations, roll_back, run_file, table_ddl

TRACKER = CORPUS / "golang-migrate" / "tracker"
MIGRATIONS = TRACKER / "db" / "migrations"
APPLIED = ["000001_create_users_projects_issues", "000002_add_comments"]
PENDING = ["000003_create_labels", "000004_add_issue_priority", "000005_add_issues_assignee_fk",
           "000006_add_comments_author_index", "000007_drop_issues_status_index", "000008_rename_issue_body",
           "000009_backfill_issue_comment_count"]

# golang-migrate/migrate database/postgres/postgres.go, ensureVersionTable
CREATE_TABLE = ('CREATE TABLE IF NOT EXISTS "public"."schema_migrations" '
                '(version bigint not null primary key, dirty boolean not null)')


def set_version(conn, version: int, dirty: bool) -> None:
    """golang-migrate's SetVersion (postgres.go)."""
    with conn.transaction():
        conn.execute('TRUNCATE "public"."schema_migrations"')
        if version >= 0 or dirty:
            conn.execute('INSERT INTO "public"."schema_migrations" (version, dirty) VALUES (%s, %s)',
                         [version, dirty])


def migrate_up(conn, names: list[str], folder=MIGRATIONS) -> None:
    """`migrate up` as migrate.go runs it: per migration, dirty, the file, clean."""
    conn.execute(CREATE_TABLE)
    for name in names:
        version = int(name.split("_")[0])
        set_version(conn, version, True)
        run_file(conn, folder / f"{name}.up.sql")
        set_version(conn, version, False)


def rows(conn) -> list[tuple[int, bool]]:
    return conn.execute('SELECT version, dirty FROM "public"."schema_migrations"').fetchall()


@pytest.fixture
def tracker(prod_db):
    """Production at version 2, migrated as golang-migrate does it, with rows."""
    with prod_db.connect("tests", guards=None) as conn:
        migrate_up(conn, APPLIED)
        run_file(conn, TRACKER / "seed.sql")
    return prod_db


# -- 1. the folder, read as golang-migrate reads it ------------------------------------------------

def test_migrations_in_version_order_each_file_in_one_transaction():
    migrations = TOOL.migrations(MIGRATIONS)

    assert [m.name for m in migrations] == APPLIED + PENDING
    assert [m.key for m in migrations] == [str(n) for n in range(1, 10)]
    assert {m.up.mode for m in migrations} == {"transaction"}
    assert [m.down.path.name if m.down else None for m in migrations][1:4] == [
        "000002_add_comments.down.sql", None, "000004_add_issue_priority.down.sql"]
    assert [m.info["previous"] for m in migrations] == [None, *range(1, 9)]


def test_versions_are_numbers_and_one_number_is_one_version(tmp_path):
    for name in ("1_a.up.sql", "2_b.up.sql", "10_c.up.sql", "000003_d.up.sql", "notes.txt", "3_d.down.sql"):
        (tmp_path / name).write_text("SELECT 1;\n")
    assert [m.name for m in TOOL.migrations(tmp_path)] == ["1_a", "2_b", "000003_d", "10_c"]

    (tmp_path / "0001_again.up.sql").write_text("SELECT 1;\n")
    with pytest.raises(BatchError, match=r"1_a.up.sql: version 1 has a second up file \(0001_again.up.sql\)"):
        TOOL.migrations(tmp_path)
    (tmp_path / "0001_again.up.sql").unlink()
    (tmp_path / "4_e.down.sql").write_text("SELECT 1;\n")
    with pytest.raises(BatchError, match=r"4_e.down.sql: version 4 has a down file but no up file"):
        TOOL.migrations(tmp_path)


def test_a_syntax_error_names_the_file_and_its_line(tmp_path):
    up = tmp_path / "000001_broken.up.sql"
    up.write_text("CREATE TABLE a (id int);\n\n\nCREATE TABEL b (id int);\n")
    with pytest.raises(BatchError, match=rf"{re.escape(str(up))} line 4: syntax error at or near \"TABEL\""):
        TOOL.migrations(tmp_path)
    up.write_text("CREATE TABLE a (id int);\n")
    down = tmp_path / "000001_broken.down.sql"
    down.write_text("-- undo\nDROP TABEL a;\n")
    with pytest.raises(BatchError, match=rf"{re.escape(str(down))} line 2: syntax error"):
        TOOL.migrations(tmp_path)


def test_a_folder_of_another_layout_or_an_unknown_tool_is_a_batch_error():
    for other in (CORPUS / "dbmate" / "tracker" / "db" / "migrations", CORPUS / "flyway" / "tracker" / "db" / "migration"):
        with pytest.raises(BatchError, match=r"no golang-migrate migrations here; golang-migrate's layout is "
                                             r"<version>_<title>.up.sql and <version>_<title>.down.sql"):
            import_batch("golang-migrate", other)
    with pytest.raises(BatchError, match=r"unknown migration tool 'golang_migrate': gonogo imports .*golang-migrate"):
        import_batch("golang_migrate", MIGRATIONS)


# -- 2. what production has, as golang-migrate recorded it -----------------------------------------

def test_pending_keeps_what_comes_after_the_current_version(tracker):
    with tracker.connect("tests", guards=None) as conn:
        assert rows(conn) == [(2, False)]
        batch = pending(import_batch("golang-migrate", MIGRATIONS), conn)
    assert [s.name for s in batch.steps] == PENDING
    assert [m.name for m in batch.applied_before] == APPLIED
    assert batch.steps[0].rollback_source == "drafted by gonogo (review it)"


def test_a_dirty_version_stops_the_import_with_migrate_force(tracker):
    with tracker.connect("tests", guards=None) as conn:
        set_version(conn, 2, True)  # what a failure of 000002 leaves
        with pytest.raises(BatchError) as raised:
            pending(import_batch("golang-migrate", MIGRATIONS), conn)
    message = str(raised.value)
    assert f"{MIGRATIONS / '000002_add_comments.up.sql'}: schema_migrations is dirty at version 2: a migration " \
           f"failed half-way" in message
    assert "`migrate -path <dir> -database <url> force 2`" in message and "`migrate ... force 1`" in message


def test_a_version_no_file_has_or_a_second_row_stops_the_import(tracker):
    with tracker.connect("tests", guards=None) as conn:
        set_version(conn, 42, False)
        with pytest.raises(BatchError, match=r"schema_migrations says version 42, but no migration in the folder"):
            pending(import_batch("golang-migrate", MIGRATIONS), conn)
        conn.execute('INSERT INTO "public"."schema_migrations" VALUES (2, false)')
        with pytest.raises(BatchError, match=r"holds 2 rows \(.*\); golang-migrate keeps exactly one"):
            pending(import_batch("golang-migrate", MIGRATIONS), conn)


def test_a_file_added_below_the_current_version_counts_as_applied_as_for_golang_migrate(tracker, tmp_path):
    """golang-migrate records only the current version, so it never runs a file that arrives later
    with a lower version; gonogo, reading the same table, cannot tell it from one that ran."""
    folder = copy_migrations(MIGRATIONS, tmp_path / "migrations", APPLIED)
    (folder / "000000_add_extensions.up.sql").write_text("CREATE EXTENSION IF NOT EXISTS pgcrypto;\n")
    with tracker.connect("tests", guards=None) as conn:
        batch = pending(import_batch("golang-migrate", folder), conn)
    assert batch.steps == () and [m.name for m in batch.applied_before] == ["000000_add_extensions", *APPLIED]


# -- 3. gonogo writes golang-migrate's row, in each step's transaction -----------------------------

def test_gonogo_leaves_the_table_at_the_last_version_with_the_schema_golang_migrate_makes(tracker, make_database):
    with tracker.connect("tests", guards=None) as conn:
        run = apply_pending(conn, pending(import_batch("golang-migrate", MIGRATIONS), conn))
        assert run.ok, run.error
        assert rows(conn) == [(9, False)]
        # written inside 000009's own BEGIN ... COMMIT: one xmin with the column it added
        assert conn.execute('SELECT xmin::text FROM "public"."schema_migrations"').fetchone() == conn.execute(
            "SELECT xmin::text FROM pg_attribute WHERE attrelid = 'issues'::regclass AND attname = 'comment_count'"
        ).fetchone()

    by_tool = make_database("production", "migrate")
    with by_tool.connect("tests", guards=None) as conn:
        migrate_up(conn, APPLIED + PENDING)
        assert rows(conn) == [(9, False)]
    assert pg_dump_schema(tracker) == pg_dump_schema(by_tool)


def test_on_an_empty_database_gonogo_creates_the_table_golang_migrate_creates(prod_db, make_database):
    with prod_db.connect("tests", guards=None) as conn:
        batch = pending(import_batch("golang-migrate", MIGRATIONS), conn)
        assert [s.name for s in batch.steps] == APPLIED + PENDING
        assert apply_pending(conn, batch).ok
        assert rows(conn) == [(9, False)]
        by_source = make_database("production", "ddl")
        with by_source.connect("tests", guards=None) as other:
            other.execute(CREATE_TABLE)
        assert table_ddl(prod_db, "public.schema_migrations") == table_ddl(by_source, "public.schema_migrations")

        # down past the first migration leaves the table empty, as SetVersion(-1, false) does
        assert roll_back(conn, batch).ok
        assert rows(conn) == []


def test_a_step_that_fails_mid_file_leaves_the_previous_version(tracker, tmp_path):
    folder = copy_migrations(MIGRATIONS, tmp_path / "migrations", APPLIED)
    (folder / "000003_create_labels.up.sql").write_text(
        "CREATE TABLE labels (id BIGSERIAL PRIMARY KEY, project_id BIGINT NOT NULL REFERENCES projects (id));\n"
        "INSERT INTO labels (project_id) VALUES (999999);\n")
    (folder / "000003_create_labels.down.sql").write_text("DROP TABLE labels;\n")
    with tracker.connect("tests", guards=None) as conn:
        run = apply_pending(conn, pending(import_batch("golang-migrate", folder), conn))
        assert run.failed_step == "000003_create_labels" and "line 2 failed (SQLSTATE 23503)" in run.error
        # golang-migrate itself would leave (3, dirty) here; the file's transaction rolled back
        # whole, so nothing of it applied and the version stays where it was
        assert rows(conn) == [(2, False)]
        assert conn.execute("SELECT to_regclass('labels')").fetchone()[0] is None


def test_rolling_back_sets_each_previous_version(tracker):
    before = pg_dump_schema(tracker)
    with tracker.connect("tests", guards=None) as conn:
        batch = pending(import_batch("golang-migrate", MIGRATIONS), conn)
        assert apply_pending(conn, batch).ok
        partial = batch.steps[4:]  # 000007 .. 000009 back: what `migrate down 3` leaves
        run = roll_back(conn, dataclasses.replace(batch, steps=partial))
        assert run.ok, run.error
        assert rows(conn) == [(6, False)]
        assert roll_back(conn, dataclasses.replace(batch, steps=batch.steps[:4])).ok
        assert rows(conn) == [(2, False)]
    assert pg_dump_schema(tracker) == before
