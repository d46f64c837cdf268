"""Reading migration scripts with PostgreSQL's parser: statements, lines, and what they do."""

from __future__ import annotations

import pytest
from pglast import ast

from gonogo.batch import load_batch
from gonogo.postgres.statements import (SqlSyntaxError, created_objects, dropped_objects, parse_script,
                               referenced_tables)

BATCH = load_batch("20250115_recipe_fixes")
STEPS = {step.order: step for step in BATCH.steps}
# Objects a rollback has to take away again when its migration made them (and vice versa).
UNDOABLE = {"constraint", "index", "trigger", "function", "extension"}


def _keys(objects) -> set[tuple[str, str]]:
    return {(o.kind, o.name) for o in objects if o.kind in UNDOABLE}


def test_statements_inside_do_blocks_are_seen():
    script = parse_script(
        'DO $$\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = \'c\') THEN\n'
        '    ALTER TABLE "T" ADD CONSTRAINT c CHECK (a > 0) NOT VALID;\n  END IF;\nEND $$;\n')
    assert len(script) == 1
    assert isinstance(script[0].node, ast.DoStmt)
    assert [type(n).__name__ for n in script[0].nodes()] == ["AlterTableStmt"]
    assert [o.label() for o in created_objects(script)] == ['constraint "c" on "T"']


def test_migration_2_creates_its_foreign_keys_inside_do_blocks():
    step = STEPS[2]
    assert all(isinstance(s.node, (ast.DoStmt, ast.AlterTableStmt)) for s in step.forward.statements)
    assert {(o.name, o.table) for o in step.creates()} == {
        ("RecipeItem_recipeId_fkey", "RecipeItem"),
        ("RecipeItem_ingredientId_fkey", "RecipeItem"),
        ("RecipeSection_recipeId_fkey", "RecipeSection"),
        ("Company_ownerId_fkey", "Company"),
        ("ProductionPlan_createdBy_fkey", "ProductionPlan"),
        ("ProductionTask_assignedTo_fkey", "ProductionTask"),
        ("InventoryMovement_createdBy_fkey", "InventoryMovement"),
    }
    assert {o.kind for o in step.creates()} == {"constraint"}


def test_concurrently_flag_of_index_statements():
    script = parse_script("CREATE INDEX CONCURRENTLY i1 ON t (a);\nCREATE INDEX i2 ON t (b);\n"
                          "DROP INDEX CONCURRENTLY IF EXISTS i3;\nSELECT 1;")
    assert [s.concurrently for s in script] == [True, False, True, False]
    assert [s.kind for s in script] == ["IndexStmt", "IndexStmt", "DropStmt", "SelectStmt"]
    index_statements = [s for s in STEPS[4].forward.statements if s.kind == "IndexStmt"]
    assert len(index_statements) == 9 and all(s.concurrently for s in index_statements)


def test_line_is_the_first_line_that_is_not_a_comment():
    text = ("-- header\n-- more header\n\nSELECT 1; -- trailing\n\n/* block\n   comment */\n"
            "-- and a line\nCREATE TABLE t (\n  a int\n);\n  SELECT 2;SELECT 3;\n")
    script = parse_script(text)
    assert [s.line for s in script] == [4, 9, 12, 12]
    assert script[1].sql.startswith("CREATE TABLE t (")


@pytest.mark.parametrize("order", sorted(STEPS))
def test_line_of_every_shipped_statement_points_at_its_text(order):
    step = STEPS[order]
    for sql_file in (step.forward, step.rollback):
        lines = sql_file.path.read_text().splitlines()
        for statement in sql_file.statements:
            first = statement.sql.splitlines()[0].strip()
            assert lines[statement.line - 1].strip().startswith(first), (sql_file.path.name, statement.line)
            assert not lines[statement.line - 1].lstrip().startswith("--")


def test_syntax_error_gives_the_line():
    with pytest.raises(SqlSyntaxError, match=r'^line 4: syntax error at or near "TABEL"'):
        parse_script("-- a comment\nSELECT 1;\n\nALTER TABEL t ADD COLUMN a int;\n")


def test_syntax_error_at_end_of_input_gives_the_line():
    with pytest.raises(SqlSyntaxError, match=r"^line 3: "):
        parse_script("SELECT 1;\n\nSELECT (1;\n")


@pytest.mark.parametrize("order", sorted(STEPS))
def test_rollback_undoes_what_its_migration_does(order):
    """The property that keeps rollbacks honest: every constraint, index, trigger, function and
    extension a migration creates, its rollback drops; whatever a migration drops (the cleanup),
    its rollback creates again."""
    step = STEPS[order]
    forward, rollback = list(step.forward.statements), list(step.rollback.statements)
    assert _keys(created_objects(forward)) <= _keys(dropped_objects(rollback))
    assert _keys(dropped_objects(forward)) <= _keys(created_objects(rollback))
    assert _keys(created_objects(forward)) | _keys(dropped_objects(forward)), "the step changes nothing?"


def test_rollback_of_the_indexes_step_removes_the_extension_it_created():
    created = _keys(created_objects(list(STEPS[4].forward.statements)))
    dropped = _keys(dropped_objects(list(STEPS[4].rollback.statements)))
    assert ("extension", "pg_trgm") in created and ("extension", "pg_trgm") in dropped


def test_a_rollback_that_forgets_an_object_is_caught():
    forward = parse_script('CREATE INDEX CONCURRENTLY a ON "T" (x);\nCREATE INDEX CONCURRENTLY b ON "T" (y);')
    rollback = parse_script("DROP INDEX CONCURRENTLY IF EXISTS a;")
    assert _keys(created_objects(forward)) - _keys(dropped_objects(rollback)) == {("index", "b")}


def test_dropped_objects_reads_each_kind():
    script = parse_script(
        'ALTER TABLE "T" DROP CONSTRAINT IF EXISTS c1;\nDROP INDEX CONCURRENTLY IF EXISTS s.i1;\n'
        'DROP TRIGGER IF EXISTS tr ON "T";\nDROP FUNCTION IF EXISTS f(int);\nDROP EXTENSION IF EXISTS pg_trgm;\n'
        'DROP TABLE "Other";')
    assert [(o.kind, o.name) for o in dropped_objects(script)] == [
        ("constraint", "c1"), ("index", "i1"), ("trigger", "tr"), ("function", "f"), ("extension", "pg_trgm")]


def test_referenced_tables_leave_out_the_catalog():
    script = parse_script(
        'SELECT * FROM pg_catalog.pg_class c JOIN pg_constraint con ON con.conrelid = c.oid;\n'
        'SELECT * FROM information_schema.tables;\n'
        'UPDATE "Recipe" r SET "categoryId" = c."id" FROM "Category" c WHERE c."name" = r."category";\n'
        'DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_extension) THEN '
        'ALTER TABLE "RecipeItem" ADD CONSTRAINT f FOREIGN KEY ("recipeId") REFERENCES "Recipe" ("id"); '
        'END IF; END $$;\n'
        'CREATE TABLE scratch (a int);\nINSERT INTO scratch VALUES (1);')
    assert referenced_tables(script) == {"Recipe", "Category", "RecipeItem"}


def test_a_with_querys_own_name_is_not_a_table():
    """Prisma apps renumber rows with WITH ordered AS (...) UPDATE ... FROM ordered: 'ordered' was
    a required table 'missing — schema drift', a false No-Go on a stranger's batch."""
    script = parse_script('WITH ordered AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM "UserCollection")\n'
                          'UPDATE "UserCollection" c SET "orderIndex" = ordered.n FROM ordered WHERE c.id = ordered.id;\n'
                          'UPDATE ordered SET n = 1;\n')  # a table of that name in another statement is one
    assert referenced_tables(script[:1]) == {"UserCollection"}
    assert referenced_tables(script) == {"UserCollection", "ordered"}


def test_referenced_tables_of_the_shipped_steps():
    assert STEPS[1].tables() == {"RecipeItem", "RecipeSection"}
    assert STEPS[5].tables() == {"Recipe", "Category"}
    assert BATCH.tables_needed() == sorted({
        "Recipe", "RecipeItem", "RecipeSection", "Ingredient", "Category", "Company", "User", "Membership",
        "ProductionPlan", "ProductionTask", "InventoryMovement", "SalesRecord", "ProductionHistory",
        "Notification", "WholesaleOrder"})


def test_rollbacks_rehearsed_in_one_transaction_that_a_rollback_ends():
    from pathlib import Path

    from gonogo.postgres.sqlfile import TRANSACTION, read_sql_file, rolled_back

    def file(name, text, mode="statements"):
        return read_sql_file(Path(name), text=text, mode=mode)

    second = file("b.sql", "ALTER TABLE t DROP COLUMN b;\nDROP TABLE u;\n", mode=TRANSACTION)
    first = file("a.sql", "BEGIN;\nALTER TABLE t DROP COLUMN a;\nCOMMIT;\n")
    script = rolled_back([second, first], "rollbacks of 2 steps")
    assert [s.sql for s in script.as_run] == [
        "BEGIN", "ALTER TABLE t DROP COLUMN b", "DROP TABLE u", "ALTER TABLE t DROP COLUMN a", "ROLLBACK"]
    assert [s.line for s in script.as_run][1:4] == [1, 2, 2]  # each file's own lines
    assert script.as_run[-1].summary() == "ROLLBACK (the rehearsal undone)"
    # what cannot run inside a transaction, or ends one of its own, cannot be rehearsed so
    assert rolled_back([file("c.sql", "DROP INDEX CONCURRENTLY i;\n")], "x") is None
    assert rolled_back([first, file("d.sql", "BEGIN;\nDROP TABLE u;\nROLLBACK;\n")], "x") is None
    assert rolled_back([file("e.sql", "SAVEPOINT s;\nDROP TABLE u;\n")], "x") is None
