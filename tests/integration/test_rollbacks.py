"""Each migration followed by its rollback leaves the schema exactly as before, on a real
cluster with the recipe app's data.

Two oracles judge "exactly as before": gonogo's own catalog reader (schema.read_schema /
schema.diff, which the rehearsal gate uses), and `pg_dump --schema-only`, which shares no code
with it. Data is checked too: row counts, and a fingerprint of every table's rows.
"""

from __future__ import annotations

import re

import pytest
from psycopg import sql

import sample_app
from gonogo.apply import history
from gonogo.batch import load_batch
from gonogo.postgres.schema import diff, read_schema
from gonogo.apply.steps import apply_steps, rollback_steps
from helpers import pg_dump_schema

SCALE = 0.1
BATCH = load_batch("20250115_recipe_fixes")
STEPS = list(BATCH.steps)  # all seven, the disabled cleanup included
CLEANUP = STEPS[-1]
BACKFILL = next(s for s in STEPS if s.kind == "backfill")


def quiet(_: str) -> None:
    pass


def apply(conn, steps) -> None:
    run = apply_steps(conn, list(steps), phase="dry_run", live_traffic=False, log=quiet)
    assert run.ok, run.error


def roll_back(conn, steps) -> None:
    run = rollback_steps(conn, list(steps), phase="dry_run", log=quiet)
    assert run.ok, run.error
    assert run.applied == [s.name for s in reversed(steps)]


def fingerprints(conn, *, ignore: dict[str, str] | None = None) -> dict[str, str]:
    """md5 of each table's rows as jsonb (so column order does not matter), ordered by id;
    ignore = {table: column} leaves one column out."""
    ignore = ignore or {}
    out = {}
    for table in sample_app.table_names():
        row = sql.SQL("to_jsonb(t) - {}").format(sql.Literal(ignore[table])) if table in ignore else sql.SQL("to_jsonb(t)")
        query = sql.SQL("SELECT md5(string_agg(({})::text, E'\\n' ORDER BY t.id)) FROM {} AS t").format(
            row, sql.Identifier(table))
        out[table] = conn.execute(query).fetchone()[0]
    return out


def column_order_free(dump: str, table: str) -> str:
    """The dump with the column lines of one table's CREATE TABLE sorted and their commas
    dropped: equal for two tables that have the same columns in another order."""
    pattern = re.compile(rf"(CREATE TABLE public\.{re.escape(table)} \(\n)(.*?)(\n\);)", re.DOTALL)
    match = pattern.search(dump)
    assert match, f"no CREATE TABLE {table} in the dump"
    columns = sorted(line.rstrip(",") for line in match.group(2).splitlines())
    return dump[:match.start(2)] + "\n".join(columns) + dump[match.end(2):]


@pytest.fixture
def loaded(prod_db, prod_conn):
    sample_app.load(prod_db, scale=SCALE)
    history.ensure(prod_conn)  # gonogo's own schema (the backfill's progress) is there before, as in a run
    return prod_db, prod_conn


@pytest.mark.parametrize("step", STEPS, ids=[s.name for s in STEPS])
def test_migration_then_rollback_restores_the_schema_and_keeps_the_data(loaded, step):
    target, conn = loaded
    earlier = STEPS[:STEPS.index(step)]
    apply(conn, earlier)
    schema_before, dump_before = read_schema(conn), pg_dump_schema(target)
    counts_before = sample_app.row_counts(conn)
    # The backfill's rollback keeps the categoryId values it filled in, on purpose (see the file).
    ignore = {"Recipe": "categoryId"} if step is BACKFILL else None
    data_before = fingerprints(conn, ignore=ignore)

    apply(conn, [step])
    assert diff(schema_before, read_schema(conn)) != [], "the migration changed nothing the catalog shows"
    roll_back(conn, [step])

    assert diff(schema_before, read_schema(conn)) == []
    dump_after = pg_dump_schema(target)
    if step is CLEANUP:
        # The cleanup drops Recipe."category"; its rollback can only ADD COLUMN it back, which
        # puts it last in the table. Same columns, same definitions, another attnum: pg_dump
        # prints the columns in attnum order, so compare them as a set.
        assert dump_after != dump_before
        assert column_order_free(dump_after, '"Recipe"') == column_order_free(dump_before, '"Recipe"')
    else:
        assert dump_after == dump_before
    assert sample_app.row_counts(conn) == counts_before
    assert fingerprints(conn, ignore=ignore) == data_before


def test_each_migration_applied_twice_changes_nothing_the_second_time(loaded):
    _, conn = loaded
    for step in STEPS:
        apply(conn, [step])
        once = read_schema(conn)
        data = fingerprints(conn)
        apply(conn, [step])
        assert diff(once, read_schema(conn)) == [], step.name
        assert fingerprints(conn) == data, step.name


@pytest.mark.parametrize("steps", [list(BATCH.enabled_steps), STEPS], ids=["enabled steps", "all steps"])
def test_whole_batch_rolled_back_in_reverse_restores_the_schema(loaded, steps):
    target, conn = loaded
    schema_before, dump_before = read_schema(conn), pg_dump_schema(target)
    counts_before = sample_app.row_counts(conn)
    data_before = fingerprints(conn, ignore={"Recipe": "categoryId"})

    apply(conn, steps)
    assert len(diff(schema_before, read_schema(conn))) > len(steps)
    roll_back(conn, steps)

    assert diff(schema_before, read_schema(conn)) == []
    dump_after = pg_dump_schema(target)
    if CLEANUP in steps:  # see test_migration_then_rollback_...: the column comes back last
        dump_before, dump_after = (column_order_free(d, '"Recipe"') for d in (dump_before, dump_after))
    assert dump_after == dump_before
    assert sample_app.row_counts(conn) == counts_before
    assert fingerprints(conn, ignore={"Recipe": "categoryId"}) == data_before


def test_catalog_reader_sees_what_a_rollback_would_miss(loaded):
    """The oracle is not blind: a rollback that forgot one index is a one-line diff."""
    _, conn = loaded
    indexes = STEPS[3]
    before = read_schema(conn)
    apply(conn, [indexes])
    roll_back(conn, [indexes])
    conn.execute("CREATE INDEX idx_recipe_list_covering ON \"Recipe\" (\"companyId\")")
    lines = diff(before, read_schema(conn))
    assert lines == ['+ index public.idx_recipe_list_covering: CREATE INDEX idx_recipe_list_covering '
                     'ON public."Recipe" USING btree ("companyId")']
