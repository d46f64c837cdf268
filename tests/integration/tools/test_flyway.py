"""Flyway (gonogo.tools.flyway) on real PostgreSQL.

No Flyway can be installed here (Maven Central and Redgate's downloads are out of reach; no
Debian, PyPI or npm package ships it), so "applied as Flyway does" is written below from its
source, flyway/flyway:
- flyway-database/flyway-database-postgresql/src/main/java/org/flywaydb/database/postgresql/
  PostgreSQLDatabase.java (getRawCreateScript): the table's DDL;
- flyway-core/src/main/java/org/flywaydb/core/internal/schemahistory/JdbcTableSchemaHistory.java
  (doAddAppliedMigration): the row, installed_rank = MAX + 1, written in the migration's
  transaction;
- flyway-core/.../resolver/ChecksumCalculator.java: CRC32 of the lines without terminators,
  computed below independently of gonogo's code (all line breaks removed, then one CRC32).
gonogo's checksum also reproduced three checksums real Flyway wrote into a public project's
database dump (gonogo's research notes, tools.md 2.4); those files are not copied here.

The corpus (tests/corpus/flyway/tracker/db/migration) is the issue tracker in Flyway's layout:
V1 and V1_1 applied, V1_2 .. V1_8 pending (U files for four of them, Flyway Teams' undo), and
a repeatable R__ view that gonogo leaves out.
"""

from __future__ import annotations

import binascii
import re
import struct
import time

import pytest

from gonogo.errors import BatchError
from gonogo.tools.imported import import_batch, pending
from gonogo.tools.flyway import TOOL, checksum
from helpers import pg_dump_schema
from integration.tools.imported_steps import CORPUS, apply_pending, roll_back, run_file, table_ddl

TRACKER = CORPUS / "flyway" / "tracker"
MIGRATIONS = TRACKER / "db" / "migration"
APPLIED = ["V1__create_users_projects_issues", "V1_1__add_comments"]
PENDING = ["V1_2__create_labels", "V1_3__add_issue_priority", "V1_4__add_issues_assignee_fk",
           "V1_5__add_comments_author_index", "V1_6__drop_issues_status_index", "V1_7__rename_issue_body",
           "V1_8__backfill_issue_comment_count"]

# PostgreSQLDatabase.getRawCreateScript, schema "public"
CREATE_TABLE = [
    'CREATE TABLE "public"."flyway_schema_history" ("installed_rank" INT NOT NULL, "version" VARCHAR(50), '
    '"description" VARCHAR(200) NOT NULL, "type" VARCHAR(20) NOT NULL, "script" VARCHAR(1000) NOT NULL, '
    '"checksum" INTEGER, "installed_by" VARCHAR(100) NOT NULL, "installed_on" TIMESTAMP NOT NULL DEFAULT now(), '
    '"execution_time" INTEGER NOT NULL, "success" BOOLEAN NOT NULL)',
    'ALTER TABLE "public"."flyway_schema_history" ADD CONSTRAINT "flyway_schema_history_pk" '
    'PRIMARY KEY ("installed_rank")',
    'CREATE INDEX "flyway_schema_history_s_idx" ON "public"."flyway_schema_history" ("success")']
INSERT = ('INSERT INTO "public"."flyway_schema_history" (installed_rank, version, description, type, script, '
          'checksum, installed_by, execution_time, success) VALUES (%s, %s, %s, %s, %s, %s, current_user, %s, %s)')


def crc_of_lines(raw: bytes) -> int:
    """Flyway's checksum, written apart from gonogo's: CRC32 updated line by line equals one CRC32
    of the lines joined, i.e. of the text with every line break removed; a BOM dropped; signed."""
    text = raw.decode("utf-8").removeprefix("\ufeff").replace("\r", "").replace("\n", "")
    return struct.unpack("<i", struct.pack("<I", binascii.crc32(text.encode("utf-8"))))[0]


def flyway_migrate(conn, names: list[str], folder=MIGRATIONS) -> None:
    """`flyway migrate` for these versioned migrations: the table created if missing, then each
    migration and its row in one transaction (outside one, row after, for CONCURRENTLY)."""
    if not conn.execute("SELECT to_regclass('public.flyway_schema_history')").fetchone()[0]:
        for statement in CREATE_TABLE:
            conn.execute(statement)
    for name in names:
        path = folder / f"{name}.sql"
        version, description = re.match(r"V(.+?)__(.*)\.sql$", path.name).groups()
        outside = "CONCURRENTLY" in path.read_text()
        started = time.monotonic()
        with conn.transaction() if not outside else _nothing():
            run_file(conn, path)
            rank = conn.execute('SELECT MAX(installed_rank) FROM "public"."flyway_schema_history"').fetchone()[0]
            conn.execute(INSERT, [(rank or 0) + 1, version.replace("_", "."), description.replace("_", " "), "SQL",
                                  path.name, crc_of_lines(path.read_bytes()),
                                  int((time.monotonic() - started) * 1000), True])


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def history(conn) -> list[tuple]:
    """The rows as Flyway reads them, without when and how long (which differ run to run)."""
    return conn.execute('SELECT installed_rank, version, description, type, script, checksum, installed_by, success '
                        'FROM "public"."flyway_schema_history" ORDER BY installed_rank').fetchall()


@pytest.fixture
def tracker(prod_db):
    """Production at V1_1, migrated as Flyway does it, with rows."""
    with prod_db.connect("tests", guards=None) as conn:
        flyway_migrate(conn, APPLIED)
        run_file(conn, TRACKER / "seed.sql")
    return prod_db


# -- 1. the folder, read as Flyway reads it --------------------------------------------------------

def test_migrations_in_version_order_with_flyways_version_description_and_checksum():
    migrations = TOOL.migrations(MIGRATIONS)

    assert [m.name for m in migrations] == APPLIED + PENDING  # R__project_issue_counts is left out
    assert [m.key for m in migrations] == ["1", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.8"]
    assert migrations[4].info == {"version": "1.4", "description": "add issues assignee fk",
                                  "script": "V1_4__add_issues_assignee_fk.sql"}
    assert [m.checksum for m in migrations] == [str(crc_of_lines(m.up.path.read_bytes())) for m in migrations]
    assert {m.name: m.up.mode for m in migrations if m.up.mode != "transaction"} == {
        "V1_5__add_comments_author_index": "statements"}  # CONCURRENTLY: Flyway runs it without a transaction
    assert {m.name: m.down.path.name for m in migrations if m.down} == {
        n: "U" + n[1:] + ".sql" for n in ("V1_2__create_labels", "V1_6__drop_issues_status_index",
                                          "V1_7__rename_issue_body", "V1_8__backfill_issue_comment_count")}


def test_versions_compare_part_by_part_as_numbers(tmp_path):
    for name in ("V1__a.sql", "V1_9__b.sql", "V1_10__c.sql", "V1.10.1__d.sql", "V2__e.sql", "V1_2_1__f.sql",
                 "sub/V3__in_a_subfolder.sql", "R__view.sql", "V4_no_separator.sql", "README.md"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("SELECT 1;\n")
    migrations = TOOL.migrations(tmp_path)
    assert [m.info["version"] for m in migrations] == ["1", "1.2.1", "1.9", "1.10", "1.10.1", "2", "3"]
    assert migrations[-1].info == {"version": "3", "description": "in a subfolder", "script": "sub/V3__in_a_subfolder.sql"}


def test_a_description_too_long_for_its_column_is_shortened_as_flyway_does(tmp_path):
    (tmp_path / f"V1__{'x' * 201}.sql").write_text("SELECT 1;\n")  # flyway-core AbbreviationUtils
    assert TOOL.migrations(tmp_path)[0].info["description"] == "x" * 197 + "..."


@pytest.mark.parametrize("name, expected", [
    ("V1_0__again.sql", r"V1__a.sql: version 1 is also V1_0__again.sql's; Flyway refuses two migrations"),
    ("V1a__x.sql", r"V1a__x.sql: '1a' is not a Flyway version"),
    ("U7__x.sql", r"U7__x.sql: undoes version 7, which has no V file"),
])
def test_a_file_flyway_refuses_is_a_batch_error_naming_it(tmp_path, name, expected):
    (tmp_path / "V1__a.sql").write_text("SELECT 1;\n")
    (tmp_path / name).write_text("SELECT 1;\n")
    with pytest.raises(BatchError, match=expected):
        TOOL.migrations(tmp_path)


@pytest.mark.parametrize("text, conf, mode", [
    ("CREATE TABLE t (id int);\nCREATE INDEX t_i ON t (id);\n", None, "transaction"),
    ("DROP INDEX CONCURRENTLY IF EXISTS t_i;\n", None, "statements"),
    ("VACUUM ANALYZE pg_class;\n", None, "statements"),
    ("ANALYZE pg_class;\n", None, "transaction"),
    ("REINDEX SCHEMA public;\n", None, "statements"),
    ("REINDEX TABLE pg_class;\n", None, "transaction"),
    ("DISCARD ALL;\n", None, "statements"),
    ("UPDATE pg_class SET relname = relname WHERE false;\n", "# big backfill\nexecuteInTransaction=false\n",
     "statements"),
    ("UPDATE pg_class SET relname = relname WHERE false;\n", "executeInTransaction=true\n", "transaction"),
], ids=["ddl", "drop_concurrently", "vacuum", "analyze", "reindex_schema", "reindex_table", "discard_all",
        "conf_false", "conf_true"])
def test_a_migration_runs_in_one_transaction_unless_flyway_would_not(tmp_path, text, conf, mode):
    (tmp_path / "V1__m.sql").write_text(text)
    if conf:
        (tmp_path / "V1__m.sql.conf").write_text(conf)
    assert TOOL.migrations(tmp_path)[0].up.mode == mode


def test_a_syntax_error_names_the_file_and_its_line(tmp_path):
    path = tmp_path / "V1__broken.sql"
    path.write_text("CREATE TABLE a (id int);\n\nCREATE TABEL b (id int);\n")
    with pytest.raises(BatchError, match=rf"{re.escape(str(path))} line 3: syntax error at or near \"TABEL\""):
        TOOL.migrations(tmp_path)
    path.write_text("SELECT 1;\n")
    undo = tmp_path / "U1__broken.sql"
    undo.write_text("-- undo\n\nDROP TABEL a;\n")
    with pytest.raises(BatchError, match=rf"{re.escape(str(undo))} line 3: syntax error"):
        TOOL.migrations(tmp_path)


def test_a_folder_of_another_layout_or_an_unknown_tool_is_a_batch_error():
    for other in (CORPUS / "dbmate" / "tracker" / "db" / "migrations",
                  CORPUS / "golang-migrate" / "tracker" / "db" / "migrations"):
        with pytest.raises(BatchError, match=r"no Flyway migrations here; Flyway's layout is "
                                             r"V<version>__<description>.sql"):
            import_batch("flyway", other)
    with pytest.raises(BatchError, match=r"unknown migration tool 'Flyway'"):
        import_batch("Flyway", MIGRATIONS)


def test_the_checksum_is_flyways_crc32_of_the_lines():
    lf = b"CREATE TABLE a (\n    id int\n);\n\nINSERT INTO a VALUES (1);\n"
    same = [lf.replace(b"\n", b"\r\n"), lf.replace(b"\n", b"\r"), b"\xef\xbb\xbf" + lf,
            lf.rstrip(b"\n"), b"CREATE TABLE a (    id int);INSERT INTO a VALUES (1);"]
    assert {checksum(raw) for raw in [lf, *same]} == {crc_of_lines(lf)}
    assert checksum(lf) != checksum(lf.replace(b"id int", b"id bigint"))
    values = [checksum(p.read_bytes()) for p in sorted(MIGRATIONS.glob("*.sql"))]
    assert values == [crc_of_lines(p.read_bytes()) for p in sorted(MIGRATIONS.glob("*.sql"))]
    assert min(values) < 0 < max(values) and all(-2**31 <= v < 2**31 for v in values)  # a signed Java int


# -- 2. what production has, as Flyway recorded it -------------------------------------------------

def test_pending_keeps_only_what_flyway_has_not_applied(tracker):
    with tracker.connect("tests", guards=None) as conn:
        batch = pending(import_batch("flyway", MIGRATIONS), conn)
    assert [s.name for s in batch.steps] == PENDING
    assert [m.name for m in batch.applied_before] == APPLIED
    assert [s.rollback_source for s in batch.steps] == [
        "the migration tool's down file", *["drafted by gonogo (review it)"] * 3, *["the migration tool's down file"] * 3]


def test_a_failed_row_stops_the_import_with_flyway_repair(tracker):
    with tracker.connect("tests", guards=None) as conn:
        conn.execute("UPDATE flyway_schema_history SET success = false WHERE version = '1.1'")
        with pytest.raises(BatchError) as raised:
            pending(import_batch("flyway", MIGRATIONS), conn)
    assert f"{MIGRATIONS / 'V1_1__add_comments.sql'}: flyway_schema_history marks it failed (success = false)" \
           in str(raised.value)
    assert "`flyway repair`" in str(raised.value)


def test_a_checksum_flyway_did_not_record_for_the_file_stops_the_import(tracker):
    with tracker.connect("tests", guards=None) as conn:
        conn.execute("UPDATE flyway_schema_history SET checksum = 12345 WHERE version = '1'")
        with pytest.raises(BatchError) as raised:
            pending(import_batch("flyway", MIGRATIONS), conn)
    message = str(raised.value)
    assert f"{MIGRATIONS / 'V1__create_users_projects_issues.sql'}: flyway recorded checksum 12345" in message
    assert "edited after it ran. What to do: restore the file as it was applied" in message


def test_a_pending_version_below_an_applied_one_stops_the_import(tracker):
    with tracker.connect("tests", guards=None) as conn:
        flyway_migrate(conn, ["V1_3__add_issue_priority"])  # applied before 1.2, as outOfOrder=true would
        with pytest.raises(BatchError) as raised:
            pending(import_batch("flyway", MIGRATIONS), conn)
    message = str(raised.value)
    assert f"{MIGRATIONS / 'V1_2__create_labels.sql'}: 1.2 is pending, but 1.3, which comes after it, " \
           f"is applied already; flyway refuses to apply a migration out of order" in message
    assert "What to do: give it a version after 1.3" in message


def test_a_baseline_counts_every_version_up_to_it_and_an_undo_makes_one_pending(tracker, make_database):
    with tracker.connect("tests", guards=None) as conn:
        flyway_migrate(conn, ["V1_2__create_labels"])
        conn.execute(INSERT, [4, "1.2", "create labels", "UNDO_SQL", "U1_2__create_labels.sql", None, 3, True])
        batch = pending(import_batch("flyway", MIGRATIONS), conn)
    assert [s.name for s in batch.steps] == PENDING

    baselined = make_database("production", "baseline")
    with baselined.connect("tests", guards=None) as conn:
        for statement in CREATE_TABLE:
            conn.execute(statement)
        conn.execute(INSERT, [1, "1.1", "<< Flyway Baseline >>", "BASELINE", "<< Flyway Baseline >>", None, 0, True])
        batch = pending(import_batch("flyway", MIGRATIONS), conn)
    assert [s.name for s in batch.steps] == PENDING and [m.name for m in batch.applied_before] == APPLIED


# -- 3. gonogo writes Flyway's rows, in each step's transaction ------------------------------------

def test_gonogo_writes_the_rows_and_the_schema_flyway_writes(tracker, make_database):
    with tracker.connect("tests", guards=None) as conn:
        run = apply_pending(conn, pending(import_batch("flyway", MIGRATIONS), conn))
        assert run.ok, run.error
        by_gonogo = history(conn)
        # written by the migration's own transaction: the row and the table it created share one xmin
        assert conn.execute("SELECT xmin::text FROM flyway_schema_history WHERE version = '1.2'").fetchone() \
            == conn.execute("SELECT xmin::text FROM pg_class WHERE oid = 'labels'::regclass").fetchone()
        timing = conn.execute("SELECT bool_and(execution_time >= 0 AND installed_on <= localtimestamp) "
                              "FROM flyway_schema_history").fetchone()[0]
    by_tool = make_database("production", "flyway")
    with by_tool.connect("tests", guards=None) as conn:
        flyway_migrate(conn, APPLIED + PENDING)
        assert by_gonogo == history(conn)
    assert by_gonogo[2] == (3, "1.2", "create labels", "SQL", "V1_2__create_labels.sql",
                            crc_of_lines((MIGRATIONS / "V1_2__create_labels.sql").read_bytes()), "postgres", True)
    assert timing
    assert pg_dump_schema(tracker) == pg_dump_schema(by_tool)


def test_on_an_empty_database_gonogo_creates_flyway_schema_history_as_flyway_does(prod_db, make_database):
    with prod_db.connect("tests", guards=None) as conn:
        batch = pending(import_batch("flyway", MIGRATIONS), conn)
        assert [s.name for s in batch.steps] == APPLIED + PENDING
        assert apply_pending(conn, batch).ok
        assert [row[:2] for row in history(conn)] == list(enumerate(
            ["1", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.8"], start=1))
    by_source = make_database("production", "ddl")
    with by_source.connect("tests", guards=None) as conn:
        for statement in CREATE_TABLE:
            conn.execute(statement)
    assert table_ddl(prod_db, "public.flyway_schema_history") == table_ddl(by_source, "public.flyway_schema_history")


def test_a_step_that_fails_mid_file_leaves_no_row(tracker, tmp_path):
    folder = tmp_path / "migration"
    folder.mkdir()
    for name in APPLIED:
        (folder / f"{name}.sql").write_bytes((MIGRATIONS / f"{name}.sql").read_bytes())
    (folder / "V1_2__create_labels.sql").write_text(
        "CREATE TABLE labels (id BIGINT PRIMARY KEY, project_id BIGINT NOT NULL REFERENCES projects (id));\n\n"
        "INSERT INTO labels VALUES (1, 999999);\n")
    (folder / "U1_2__create_labels.sql").write_text("DROP TABLE labels;\n")
    with tracker.connect("tests", guards=None) as conn:
        run = apply_pending(conn, pending(import_batch("flyway", folder), conn))
        assert run.failed_step == "V1_2__create_labels" and "line 3 failed (SQLSTATE 23503)" in run.error
        assert [row[1] for row in history(conn)] == ["1", "1.1"]
        assert conn.execute("SELECT to_regclass('labels')").fetchone()[0] is None


def test_rolling_back_deletes_the_rows(tracker):
    before = pg_dump_schema(tracker)
    with tracker.connect("tests", guards=None) as conn:
        applied = history(conn)
        batch = pending(import_batch("flyway", MIGRATIONS), conn)
        assert apply_pending(conn, batch).ok
        run = roll_back(conn, batch)
        assert run.ok, run.error
        assert history(conn) == applied
        # Flyway applies them again on top, from installed_rank 3
        assert [s.name for s in pending(import_batch("flyway", MIGRATIONS), conn).steps] == PENDING
    assert pg_dump_schema(tracker) == before
