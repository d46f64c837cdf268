"""Snapshots with pg_dump / pg_restore: private files, complete data, a faithful staging copy,
and refusals that protect production."""

from __future__ import annotations

import dataclasses
import re
import secrets
import stat

import pytest
from psycopg import sql

import sample_app
from gonogo.clone import snapshot
from gonogo_local.cluster import free_port
from gonogo.errors import TargetError
from gonogo.apply.progress import megabytes
from gonogo.results import Verdict
from gonogo.postgres.schema import diff, read_schema
from gonogo.postgres.target import Target

SCALE = 0.05


def quiet(_: str) -> None:
    pass


class Lines(list):
    """A log that keeps its lines."""

    def __call__(self, line: str) -> None:
        self.append(line)


def streamed(taken, staging: Target, production: Target, log=quiet) -> float:
    """The DAG's restore_staging: production piped into staging, no file."""
    return snapshot.stream_into(production, staging, log=log)


def from_file(taken, staging: Target, production: Target, log=quiet) -> float:
    """The dump file restored with parallel jobs (the bench's alternative)."""
    return snapshot.restore_into(taken, staging, production=production, log=log)


# every way of making the copy: the same copy, the same refusals
COPIES = pytest.mark.parametrize("copy", [streamed, from_file], ids=["streamed", "from_a_file"])


def no_access_for_others(path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


@pytest.fixture
def dumped(prod_db, tmp_path):
    counts = sample_app.load(prod_db, scale=SCALE)
    return snapshot.dump(prod_db, tmp_path / "artifacts" / "snapshot", log=quiet), counts


def test_dump_is_private_and_holds_every_table(prod_db, dumped):
    result, _ = dumped
    assert result.path.is_dir() and result.bytes > 0
    files = [p for p in result.path.rglob("*") if p.is_file()]
    assert files and result.bytes == sum(p.stat().st_size for p in files)
    for path in [result.path, result.path.parent, *files]:
        assert no_access_for_others(path), (path, oct(path.stat().st_mode))
    with prod_db.connect("tests", guards=None) as conn:
        tables = snapshot.table_names(conn)
    assert tables == sorted(f"public.{t}" for t in sample_app.table_names())
    assert snapshot.dumped_tables(result.path) == tables


def test_a_dump_never_overwrites_another(prod_db, dumped):
    result, _ = dumped
    with pytest.raises(TargetError, match="already exists"):
        snapshot.dump(prod_db, result.path, log=quiet)


@COPIES
def test_the_staging_copy_has_the_same_rows_and_schema(prod_db, staging_db, dumped, copy):
    result, counts = dumped
    with staging_db.connect("tests", guards=None) as conn:
        conn.execute("CREATE TABLE leftover_from_last_run (a int)")  # the restore starts from scratch
    copy(result, staging_db, prod_db)
    with prod_db.connect("tests", guards=None) as prod, staging_db.connect("tests", guards=None) as staging:
        assert sample_app.row_counts(staging) == counts == sample_app.row_counts(prod)
        assert diff(read_schema(prod), read_schema(staging)) == []
        assert read_schema(staging).lines  # not two empty schemas
        assert staging.execute("SELECT to_regclass('leftover_from_last_run')").fetchone()[0] is None


@COPIES
def test_the_copy_refuses_to_target_production(prod_db, dumped, copy):
    result, counts = dumped
    same = Target(name="staging", host=prod_db.host, port=prod_db.port, dbname=prod_db.dbname,
                  user=prod_db.user, password=prod_db.password)
    with pytest.raises(TargetError) as caught:
        copy(result, same, prod_db)
    message = str(caught.value)
    assert "same database" in message
    assert same.describe() in message and prod_db.describe() in message
    with prod_db.connect("tests", guards=None) as conn:
        assert sample_app.row_counts(conn) == counts  # production untouched


@COPIES
@pytest.mark.parametrize("alias", ["localhost", "socket"])
def test_the_copy_refuses_production_under_another_address(prod_cluster, prod_db, dumped, alias, copy):
    """"localhost" resolves to production's address; the Unix socket shares none, and only
    the server's system identifier tells that it is production."""
    result, counts = dumped
    host = "localhost" if alias == "localhost" else str(prod_cluster.root)
    same = Target(name="staging", host=host, port=prod_db.port, dbname=prod_db.dbname,
                  user=prod_db.user, password=prod_db.password)
    with pytest.raises(TargetError) as caught:
        copy(result, same, prod_db)
    assert "would drop production" in str(caught.value)
    with prod_db.connect("tests", guards=None) as conn:
        assert sample_app.row_counts(conn) == counts  # production untouched


def test_verify_dump_passes_for_the_tables_it_holds_and_fails_for_one_it_lacks(prod_db, dumped):
    result, _ = dumped
    with prod_db.connect("tests", guards=None) as conn:
        tables = snapshot.table_names(conn)
    ok = snapshot.verify_dump(result, tables, phase="production")
    assert ok.verdict is Verdict.PASS and ok.value.startswith(f"{len(tables)} tables")

    missing = snapshot.verify_dump(result, [*tables, "public.AuditLog"], phase="production")
    assert missing.verdict is Verdict.FAIL
    assert "public.AuditLog" in missing.message


def test_verify_dump_fails_for_an_unreadable_dump(dumped):
    result, _ = dumped
    (result.path / "toc.dat").write_bytes(b"not a table of contents")
    checked = snapshot.verify_dump(result, ["public.Recipe"], phase="production")
    assert checked.verdict is Verdict.FAIL and checked.value == "unreadable"


def test_dump_of_an_unreachable_target_says_why_without_the_password(prod_db, tmp_path):
    nowhere = Target(name="production", host="127.0.0.1", port=free_port(), dbname=prod_db.dbname,
                     user=prod_db.user, password=prod_db.password)
    with pytest.raises(TargetError) as caught:
        snapshot.dump(nowhere, tmp_path / "snapshot", log=quiet)
    message = str(caught.value)
    assert message.startswith(f"pg_dump of {nowhere.describe()} failed")
    assert "Connection refused" in message
    assert prod_db.password not in message


def test_dump_with_a_wrong_password_says_why_without_any_password(prod_db, tmp_path):
    wrong = Target(name="production", host=prod_db.host, port=prod_db.port, dbname=prod_db.dbname,
                   user=prod_db.user, password="not-the-password-3f9c")
    with pytest.raises(TargetError) as caught:
        snapshot.dump(wrong, tmp_path / "snapshot", log=quiet)
    message = str(caught.value)
    assert "password authentication failed" in message
    assert "not-the-password-3f9c" not in message and prod_db.password not in message


# -- progress in the task log --------------------------------------------------------------------

def per_table(lines: list[str], verb: str) -> list[tuple[str, int, int, str]]:
    """(table, n, N, size) of each "<verb> data for table X (n of N, size)" line."""
    found = [re.fullmatch(rf"{verb} data for table (\S+) \((\d+) of (\d+), ([\d.]+ [kM]?B)[a-z ]*\)", line)
             for line in lines if line.startswith(f"{verb} data")]
    assert all(found), lines
    return [(m[1], int(m[2]), int(m[3]), m[4]) for m in found]


def test_dump_and_restore_log_each_table_once_with_its_count_and_size(prod_db, staging_db, tmp_path):
    """Two parallel jobs (the default) write to one stderr: still one line per table, counted 1..N."""
    sample_app.load(prod_db, scale=SCALE)
    with prod_db.connect("tests", guards=None) as conn:
        tables = snapshot.table_names(conn)
        sizes = dict(conn.execute("SELECT format('%s.%s', n.nspname, c.relname), pg_table_size(c.oid) "
                                  "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                  "WHERE n.nspname = 'public' AND c.relkind = 'r'").fetchall())

    dumping = Lines()
    result = snapshot.dump(prod_db, tmp_path / "snapshot", log=dumping)
    dumped = per_table(dumping, "dumping")
    assert sorted(t for t, *_ in dumped) == tables
    assert [n for _, n, _, _ in dumped] == list(range(1, len(tables) + 1))
    assert {total for _, _, total, _ in dumped} == {len(tables)}
    assert all(size == megabytes(sizes[table]) for table, _, _, size in dumped), dumped
    assert re.fullmatch(rf"dumped {len(tables)} tables \([\d.]+ [kM]?B of table data\) into "
                        rf"{re.escape(megabytes(result.bytes))} in [\d.]+ s: [\d.]+ MB/s", dumping[-1]), dumping[-1]
    assert not [line for line in dumping if "reading" in line]  # pg_dump's other chatter stays out

    restoring = Lines()
    snapshot.restore_into(result, staging_db, production=prod_db, log=restoring)
    restored = per_table(restoring, "restoring")
    assert sorted(t for t, *_ in restored) == tables
    assert [n for _, n, _, _ in restored] == list(range(1, len(tables) + 1))
    assert all(line.endswith(" compressed)") for line in restoring if line.startswith("restoring data"))
    assert restoring[-1].startswith(f"restored {len(tables)} tables from {megabytes(result.bytes)} of dump in ")


def test_interleaved_worker_lines_count_each_table_once():
    """Lines as pg_restore -j wrote them here: a worker's prefix landed on another's line."""
    progress = snapshot.TableProgress.restoring({"public.A": 2_000_000, "public.B": 500})
    output = ['pg_restore: processing data for table "public.A"',
              "pg_restore:pg_restore:  finished item 3334 CONSTRAINT A A_pkey",
              'processing data for table "public.B"',
              "pg_restore: finished item 3513 TABLE DATA B",
              'pg_restore: processing data for table "public.A"']
    assert [line for text in output if (line := progress.line(text))] == [
        "restoring data for table public.A (1 of 2, 2.0 MB compressed)",
        "restoring data for table public.B (2 of 2, 500 B compressed)"]


def test_the_streamed_copy_logs_each_table_once_with_its_count_and_size(prod_db, staging_db):
    sample_app.load(prod_db, scale=SCALE)
    with prod_db.connect("tests", guards=None) as conn:
        tables = snapshot.table_names(conn)
    copying = Lines()
    snapshot.stream_into(prod_db, staging_db, log=copying)
    copied = per_table(copying, "copying")
    assert sorted(t for t, *_ in copied) == tables
    assert [n for _, n, _, _ in copied] == list(range(1, len(tables) + 1))
    assert re.fullmatch(rf"copied {len(tables)} tables \([\d.]+ [kM]?B of table data\) from "
                        rf"{re.escape(prod_db.describe())} into {re.escape(staging_db.describe())} in [\d.]+ s: "
                        rf"[\d.]+ MB/s", copying[-1]), copying[-1]


def test_a_streamed_copy_whose_dump_fails_names_pg_dump_not_the_restore_it_starved(prod_db, staging_db):
    """pg_restore fails too when its input ends early; the cause is pg_dump's."""
    sample_app.load(prod_db, scale=SCALE)
    with prod_db.connect("tests", guards=None) as conn:
        conn.execute("CREATE TABLE secret (a int)")
    reader = f"reader_{secrets.token_hex(3)}"
    with prod_db.connect("tests", guards=None) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'r3ader-pw'").format(sql.Identifier(reader)))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(sql.Identifier(reader)))
        conn.execute(sql.SQL("REVOKE SELECT ON secret FROM {}").format(sql.Identifier(reader)))
    try:
        with pytest.raises(TargetError) as caught:
            snapshot.stream_into(dataclasses.replace(prod_db, user=reader, password="r3ader-pw"), staging_db, log=quiet)
    finally:
        with prod_db.connect("tests", guards=None) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(reader)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(reader)))
    message = str(caught.value)
    assert message.startswith("pg_dump of ") and "permission denied for table secret" in message, message
    assert "r3ader-pw" not in message


@COPIES
def test_a_staging_login_that_may_not_create_productions_extensions_is_told_what_to_do(
        prod_db, staging_cluster, staging_db, tmp_path, copy):
    """The trial: staging's login could create databases but not pg_stat_statements (untrusted),
    which pg_restore recreates because production has it."""
    with prod_db.connect("tests", guards=None) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        conn.execute("CREATE TABLE t (id int)")
    taken = snapshot.dump(prod_db, tmp_path / "snapshot", log=quiet)
    name, password = f"stager_{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    with staging_cluster.target().connect("tests", guards=None) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(sql.Identifier(name),
                                                                                 sql.Literal(password)))
        admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(staging_db.dbname),
                                                                      sql.Identifier(name)))
        try:
            with pytest.raises(TargetError) as caught:
                copy(taken, dataclasses.replace(staging_db, user=name, password=password), prod_db)
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(staging_db.dbname)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
    message = str(caught.value)
    assert 'permission denied to create extension "pg_stat_statements"' in message
    assert f"staging's login {name} may not create pg_stat_statements" in message
    assert "Connect staging as a superuser" in message and password not in message
