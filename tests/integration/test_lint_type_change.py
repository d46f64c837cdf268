"""The lint's claim "this type change rewrites the table, or not" against PostgreSQL 15: the
table's and its indexes' relfilenode before and after the statement, inside BEGIN ... ROLLBACK,
on a table with rows and an index on the column.

The lint says: an error (alter-column-type) = a rewrite; no type finding at all (neither
gonogo's nor squawk's changing-column-type) = no rewrite; a warning = it depends, on the
current type (unseen by the lint) or the session's TimeZone, and then both outcomes happen.
"""

from __future__ import annotations

import pytest

from gonogo.lint import KnownSchema, lint_file
from gonogo.lint.lock_taken import lock_taken
from gonogo.postgres.statements import parse_script
from helpers import create_database, drop_database, rewritten, sql_file, table_locks

# a value of each old type, for the table's rows
VALUES = {"varchar(20)": "'12'", "varchar": "'12'", "text": "'12'", "numeric(10,2)": "12.5", "numeric": "12.5",
          "varbit(5)": "B'101'", "bit(5)": "B'10101'", "cidr": "'10.0.0.0/8'", "int": "12", "char(5)": "'12'",
          "varchar(20)[]": "ARRAY['12']", "timestamp": "now()", "timestamptz": "now()"}

CASES = [  # (old type, ALTER COLUMN c ...)
    ("varchar(20)", "TYPE text"),
    ("varchar(20)", "TYPE varchar(40)"),
    ("varchar(20)", "TYPE character varying"),
    ("varchar(20)", "SET DATA TYPE varchar(10)"),
    ("varchar(20)", "TYPE text USING c::text"),
    ("varchar(20)", "TYPE varchar(40) USING c || ''"),
    ("varchar", "TYPE text"),
    ("text", "TYPE varchar"),
    ("text", "TYPE varchar(20)"),
    ("text", "TYPE int USING c::int"),
    ("numeric(10,2)", "TYPE numeric(12,2)"),
    ("numeric(10,2)", "TYPE decimal"),
    ("numeric(10,2)", "TYPE numeric(12,3)"),
    ("numeric(10,2)", "TYPE numeric(8,2)"),
    ("numeric", "TYPE numeric(10,2)"),
    ("varbit(5)", "TYPE varbit(10)"),
    ("varbit(5)", "TYPE bit varying"),
    ("bit(5)", "TYPE varbit"),
    ("bit(5)", "TYPE varbit(5)"),
    ("cidr", "TYPE inet"),
    ("int", "TYPE bigint"),
    ("int", "TYPE integer"),
    ("char(5)", "TYPE text"),
    ("varchar(20)[]", "TYPE text[]"),
]


@pytest.fixture(scope="module")
def conn(prod_cluster):
    target = create_database(prod_cluster, "typechange")
    with target.connect("tests", guards=None) as conn:
        yield conn
    drop_database(prod_cluster, target.dbname)


def make_table(conn, old: str) -> str:
    conn.execute("DROP TABLE IF EXISTS tc")
    create = f"CREATE TABLE tc (id int PRIMARY KEY, c {old});\nCREATE INDEX tc_c ON tc (c);\n"
    conn.execute(create)
    conn.execute(f"INSERT INTO tc SELECT g, {VALUES[old]} FROM generate_series(1, 1000) g")
    return create


def claim(tmp_path, alter: str, known: KnownSchema | None) -> bool | None:
    """What the lint says: True a rewrite, False none, None it depends."""
    findings = lint_file(sql_file(tmp_path, alter + ";\n"), step_kind="schema", step_enabled=True, known=known)
    about = [f for f in findings if f.key_problem == "rewrite"]
    assert len(about) <= 1, about
    if not about:
        return False
    assert about[0].rule == "alter-column-type" and about[0].lock == "ACCESS EXCLUSIVE"
    return {"error": True, "warning": None}[about[0].level]


@pytest.mark.parametrize("old,change", CASES, ids=[f"{o} {c}" for o, c in CASES])
def test_the_lint_says_rewrite_exactly_when_postgresql_rewrites(conn, tmp_path, old, change):
    create = make_table(conn, old)
    alter = f"ALTER TABLE tc ALTER COLUMN c {change}"
    said = claim(tmp_path, alter, KnownSchema.of(parse_script(create)))
    assert said is not None, "the old type is known: the lint must decide"
    files = rewritten(conn, alter, "tc")
    assert bool(files) is said, files
    if "tc" in files:
        assert files == ["tc", "tc_c", "tc_pkey"]  # the table and every index
    # a rewrite or not, ACCESS EXCLUSIVE is taken, as the finding (or lock_taken) says
    assert table_locks(conn, alter) == {"tc": lock_taken(parse_script(alter)[0].node)} == {"tc": "ACCESS EXCLUSIVE"}


def test_an_earlier_type_change_in_the_file_is_the_old_type(conn, tmp_path):
    create = make_table(conn, "varchar(20)")
    known = KnownSchema.of(parse_script(create))
    # varchar(20) -> varchar(10) rewrites; from there, varchar(15) is wider and does not
    sql = "ALTER TABLE tc ALTER COLUMN c TYPE varchar(10);\nALTER TABLE tc ALTER COLUMN c TYPE varchar(15);\n"
    findings = lint_file(sql_file(tmp_path, sql), step_kind="schema", step_enabled=True, known=known)
    assert [(f.line, f.level) for f in findings if f.key_problem == "rewrite"] == [(1, "error")]
    conn.execute("BEGIN")
    try:
        conn.execute("ALTER TABLE tc ALTER COLUMN c TYPE varchar(10)")
        assert rewritten_in_transaction(conn, "ALTER TABLE tc ALTER COLUMN c TYPE varchar(15)") == []
    finally:
        conn.execute("ROLLBACK")


def rewritten_in_transaction(conn, statement: str) -> list[str]:
    files = "SELECT relname, relfilenode FROM pg_class WHERE relname IN ('tc', 'tc_c', 'tc_pkey')"
    before = dict(conn.execute(files).fetchall())
    conn.execute(statement)
    return sorted(n for n, node in conn.execute(files).fetchall() if before[n] != node)


@pytest.mark.parametrize("new,free,costly", [("text", "varchar(20)", "char(5)"),
                                             ("varchar(40)", "varchar(20)", "text"),
                                             ("numeric(12,2)", "numeric(10,2)", "numeric")])
def test_an_unseen_old_type_is_a_warning_because_both_happen(conn, tmp_path, new, free, costly):
    alter = f"ALTER TABLE tc ALTER COLUMN c TYPE {new}"
    [finding] = [f for f in lint_file(sql_file(tmp_path, alter + ";\n"), step_kind="schema", step_enabled=True)
                 if f.key_problem == "rewrite"]
    assert finding.level == "warning" and f"unless the column is now {free.split('(')[0]}" in finding.message
    assert "changing-column-type" in finding.references
    make_table(conn, free)
    assert rewritten(conn, alter, "tc") == []
    make_table(conn, costly)
    assert rewritten(conn, alter, "tc") != []


@pytest.mark.parametrize("old,new", [("timestamp", "timestamptz"), ("timestamptz", "timestamp")])
def test_timestamp_and_timestamptz_depend_on_the_session_time_zone(conn, tmp_path, old, new):
    create = make_table(conn, old)
    alter = f"ALTER TABLE tc ALTER COLUMN c TYPE {new}"
    assert claim(tmp_path, alter, KnownSchema.of(parse_script(create))) is None
    # at UTC the table is kept but the column's index is rebuilt; elsewhere all is rewritten
    assert rewritten(conn, alter, "tc", setup="SET LOCAL TimeZone = 'UTC'") == ["tc_c"]
    assert rewritten(conn, alter, "tc", setup="SET LOCAL TimeZone = 'Europe/Berlin'") == ["tc", "tc_c", "tc_pkey"]
