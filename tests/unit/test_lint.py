"""The static lint: known-bad statements it flags, known-good ones it leaves alone.

Real squawk binary (squawk-cli), real PostgreSQL parser (pglast); no mocks. Every rule has
an err case (rule id, level, lock and line checked) and an ok case beside it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gonogo.postgres import locks
from gonogo.batch import SHIPPED_BATCHES, SqlFile, Step, load_batch
from gonogo.lint import EXCLUDED_RULES, RULES, Finding, SquawkNotFound, lint_batch, lint_file, lint_step
from gonogo.lint.squawk import squawk_binary
from gonogo.results import Verdict
from gonogo.postgres.statements import parse_script

BATCH_ID = "20250115_recipe_fixes"
DETAIL_KEYS = {"rule", "source", "level", "file", "line", "statement", "lock", "blocks", "message", "help",
               "problem", "references", "other_locks"}


def lint(tmp_path: Path, sql: str, *, kind: str = "constraint", enabled: bool = True,
         rollback: bool = False, mode: str = "statements") -> list[Finding]:
    path = tmp_path / "migration.sql"
    path.write_text(sql)
    sql_file = SqlFile(path=path, text=sql, statements=tuple(parse_script(sql)), mode=mode)
    return lint_file(sql_file, step_kind=kind, step_enabled=enabled, rollback=rollback)


def do(*statements: str) -> str:
    """A DO block: squawk does not look inside one, gonogo's rules do. Its first statement is
    on line 3 of the block."""
    return "DO $$\nBEGIN\n" + "".join(f"    {s};\n" for s in statements) + "END $$;\n"


def rules(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings]


# -- gonogo's rules: err cases ------------------------------------------------------------------

FK = 'ALTER TABLE "RecipeItem" ADD CONSTRAINT fk FOREIGN KEY ("recipeId") REFERENCES "Recipe" ("id")'

ERR = {
    # rule id: (sql, level, lock, line)
    "unbatched-update-delete": ('-- whole table\nUPDATE "Recipe" SET "category" = NULL;\n',
                                "warning", "ROW EXCLUSIVE", 2),
    "create-trigger-lock": ('SELECT 1;\nCREATE TRIGGER t BEFORE INSERT ON "Recipe" '
                            "FOR EACH ROW EXECUTE FUNCTION f();\n", "warning", "SHARE ROW EXCLUSIVE", 2),
    "not-valid-validate-same-transaction": (do(FK + " NOT VALID", 'ALTER TABLE "RecipeItem" VALIDATE CONSTRAINT fk'),
                                            "error", "SHARE ROW EXCLUSIVE", 4),
    "drop-column": ('ALTER TABLE "Recipe" DROP COLUMN IF EXISTS "category";\n', "error", "ACCESS EXCLUSIVE", 1),
    "drop-constraint": ('ALTER TABLE "Recipe" DROP CONSTRAINT IF EXISTS recipe_category_mapped;\n',
                        "error", "ACCESS EXCLUSIVE", 1),
    "set-not-null": (do('ALTER TABLE "Recipe" ALTER COLUMN "name" SET NOT NULL'), "error", "ACCESS EXCLUSIVE", 3),
    "alter-column-type": (do('ALTER TABLE "Recipe" ALTER COLUMN "yieldQuantity" TYPE numeric(12,3) '
                             'USING "yieldQuantity"::numeric'), "error", "ACCESS EXCLUSIVE", 3),
    "index-without-concurrently": (do('CREATE INDEX recipe_name ON "Recipe" ("name")'), "error", "SHARE", 3),
    "table-rewrite": ('ALTER TABLE "Recipe" ADD COLUMN "token" uuid DEFAULT gen_random_uuid();\n',
                      "error", "ACCESS EXCLUSIVE", 1),
    "constraint-builds-index": (do('ALTER TABLE "Recipe" ADD CONSTRAINT recipe_name_key UNIQUE ("name")'),
                                "error", "ACCESS EXCLUSIVE", 3),
    "constraint-without-not-valid": (do("SELECT 1",
                                        'ALTER TABLE "Recipe" ADD CONSTRAINT c CHECK ("yieldQuantity" > 0)'),
                                     "error", "ACCESS EXCLUSIVE", 4),
    "rename": ('ALTER TABLE "Recipe" ADD COLUMN IF NOT EXISTS "title" text;\n'
               'ALTER TABLE "Recipe" RENAME COLUMN "name" TO "label";\n', "error", "ACCESS EXCLUSIVE", 2),
    "drop-index-without-concurrently": ('DROP INDEX IF EXISTS "Recipe_name_idx";\n', "warning", "ACCESS EXCLUSIVE", 1),
    # run in one transaction (MODE below): the ALTER's lock is held through the UPDATE and the index build
    "transaction-holds-lock": ('ALTER TABLE "Recipe" ADD COLUMN "slug" text;\n'
                               'UPDATE "Recipe" SET "slug" = lower("name") WHERE "slug" IS NULL;\n'
                               'CREATE INDEX "Recipe_slug_idx" ON "Recipe" ("slug");\n',
                               "warning", "ACCESS EXCLUSIVE", 1),
}
# How a case's file runs (gonogo.postgres.sqlfile), where it is not statement by statement.
MODE = {"transaction-holds-lock": "transaction"}


def test_every_rule_has_an_err_case_and_its_module_function_and_id_share_a_name():
    for rule in RULES:
        assert rule.__module__ == f"gonogo.lint.rules.{rule.__name__}"
        assert rule.__name__.replace("_", "-") in ERR
    assert len(ERR) == len(RULES)


@pytest.mark.parametrize("rule", sorted(ERR))
def test_rule_flags_its_known_bad_statement(tmp_path, rule):
    sql, level, lock, line = ERR[rule]
    found = [f for f in lint(tmp_path, sql, kind="cutover", mode=MODE.get(rule, "statements")) if f.rule == rule]
    assert len(found) == 1, found
    finding = found[0]
    assert (finding.source, finding.level, finding.lock, finding.line) == ("gonogo", level, lock, line)
    assert finding.blocks == locks.blocks(lock)
    assert finding.message and finding.help and finding.statement
    assert finding.file == "migration.sql"


def test_a_foreign_key_without_not_valid_names_share_row_exclusive(tmp_path):
    [finding] = [f for f in lint(tmp_path, do(FK)) if f.rule == "constraint-without-not-valid"]
    assert finding.lock == "SHARE ROW EXCLUSIVE" and "writes" in finding.blocks
    assert finding.statement.startswith('ALTER TABLE "RecipeItem" ADD CONSTRAINT fk FOREIGN KEY')


# -- gonogo's rules: ok cases -------------------------------------------------------------------

BATCHED_LOOP = ("DO $$\nDECLARE n bigint;\nBEGIN\n    LOOP\n"
                '        UPDATE "Recipe" SET "category" = NULL;\n'
                "        GET DIAGNOSTICS n = ROW_COUNT;\n        EXIT WHEN n = 0;\n        COMMIT;\n"
                "    END LOOP;\nEND $$;\n")
NEW_TABLE = "CREATE TABLE note (id bigint PRIMARY KEY, body text, n int);\n"

OK = {
    "unbatched-update-delete": [
        'UPDATE "Recipe" SET "categoryId" = NULL WHERE "id" BETWEEN 1 AND 1000;\n',
        'DELETE FROM "Recipe" r WHERE r."id" = 7;\n',
        BATCHED_LOOP,
        NEW_TABLE + "UPDATE note SET body = '';\n",
    ],
    "rename": [
        NEW_TABLE + "ALTER TABLE note RENAME COLUMN body TO text_body;\nALTER TABLE note RENAME TO memo;\n",
        # a column this file added is new: nobody reads it yet
        'ALTER TABLE "Recipe" ADD COLUMN IF NOT EXISTS "slugg" text;\n'
        'ALTER TABLE "Recipe" RENAME COLUMN "slugg" TO "slug";\n',
        'ALTER INDEX IF EXISTS "Recipe_name_idx" RENAME TO recipe_name;\n',
    ],
    "drop-index-without-concurrently": [
        'DROP INDEX CONCURRENTLY IF EXISTS "Recipe_name_idx";\n',
        NEW_TABLE + "CREATE INDEX IF NOT EXISTS note_body ON note (body);\nDROP INDEX IF EXISTS note_body;\n",
        # created earlier in this file: the drop undoes it
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS recipe_name ON "Recipe" ("name");\nDROP INDEX IF EXISTS recipe_name;\n',
    ],
    "create-trigger-lock": [NEW_TABLE + "CREATE TRIGGER t BEFORE INSERT ON note FOR EACH ROW EXECUTE FUNCTION f();\n"],
    "not-valid-validate-same-transaction": [
        do(FK + " NOT VALID") + 'ALTER TABLE "RecipeItem" VALIDATE CONSTRAINT fk;\n',
    ],
    "drop-column": [],  # rollbacks and disabled cleanup steps: below
    "drop-constraint": [
        'ALTER TABLE "Recipe" DROP CONSTRAINT IF EXISTS c;\n'
        'ALTER TABLE "Recipe" ADD CONSTRAINT c CHECK ("yieldQuantity" > 0) NOT VALID;\n',
    ],
    "set-not-null": [
        'ALTER TABLE "Recipe" ADD CONSTRAINT name_nn CHECK ("name" IS NOT NULL) NOT VALID;\n'
        'ALTER TABLE "Recipe" VALIDATE CONSTRAINT name_nn;\n'
        'ALTER TABLE "Recipe" ALTER COLUMN "name" SET NOT NULL;\n',
    ],
    "alter-column-type": [NEW_TABLE + "ALTER TABLE note ALTER COLUMN n TYPE bigint;\n"],
    "index-without-concurrently": [
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS recipe_name ON "Recipe" ("name");\n',
        NEW_TABLE + "CREATE INDEX note_body ON note (body);\n",
    ],
    "constraint-builds-index": [
        'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS recipe_name_key ON "Recipe" ("name");\n'
        + do('ALTER TABLE "Recipe" ADD CONSTRAINT recipe_name_key UNIQUE USING INDEX recipe_name_key'),
    ],
    "constraint-without-not-valid": [
        do('ALTER TABLE "Recipe" ADD CONSTRAINT c CHECK ("yieldQuantity" > 0) NOT VALID'),
        NEW_TABLE + "ALTER TABLE note ADD CONSTRAINT n_positive CHECK (n > 0);\n",
    ],
    "transaction-holds-lock": [
        'ALTER TABLE "Recipe" ADD COLUMN "slug" text;\n',  # nothing after it in the transaction
        NEW_TABLE + "ALTER TABLE note ADD COLUMN m int;\nCREATE INDEX note_m ON note (m);\n",  # a new table
        # a statement that cannot run in a transaction block runs alone: the ALTER's transaction ends before it
        'ALTER TABLE "Recipe" ADD COLUMN "slug" text;\nCREATE INDEX CONCURRENTLY "Recipe_slug_idx" ON "Recipe" ("slug");\n',
    ],
}


@pytest.mark.parametrize("rule,sql", [(rule, sql) for rule, cases in OK.items() for sql in cases])
def test_rule_leaves_its_known_good_statement_alone(tmp_path, rule, sql):
    found = lint(tmp_path, sql, mode=MODE.get(rule, "statements"))
    assert rule not in rules(found)
    assert not [f for f in found if f.level == "error"], found


def test_how_a_file_runs_decides_how_long_its_locks_are_held(tmp_path):
    """The same file: statement by statement each lock ends with its statement; in one
    transaction (as Prisma or Flyway run it) the ALTER's ACCESS EXCLUSIVE lasts to the COMMIT,
    so the finding on the index build names that lock, not the build's own SHARE."""
    sql = ERR["transaction-holds-lock"][0]
    alone = lint(tmp_path, sql)
    together = lint(tmp_path, sql, mode="transaction")
    assert "transaction-holds-lock" not in rules(alone)
    [held] = [f for f in together if f.rule == "transaction-holds-lock"]
    assert "lines 2–3" in held.message and "COMMIT" in held.message
    [build_alone] = [f for f in alone if f.key_problem == "index-build"]
    [build_together] = [f for f in together if f.key_problem == "index-build"]
    assert (build_alone.line, build_alone.lock) == (3, "SHARE")
    assert (build_together.line, build_together.lock) == (3, "ACCESS EXCLUSIVE")
    assert "require-concurrent-index-creation" in build_together.references


def step_of(tmp_path, sql: str, mode: str) -> Step:
    def sql_file(name: str, text: str) -> SqlFile:
        (tmp_path / name).write_text(text)
        return SqlFile(path=tmp_path / name, text=text, statements=tuple(parse_script(text)), mode=mode)

    return Step(order=1, kind="cutover", forward=sql_file("migration.sql", sql), rollback=sql_file("rollback.sql", "SELECT 1;\n"))


def test_the_step_result_names_the_longest_hold_of_a_file_run_in_one_transaction(tmp_path):
    sql = ERR["transaction-holds-lock"][0]
    together = lint_step(step_of(tmp_path, sql, "transaction"))
    assert together.message.endswith(
        'migration.sql: the file runs in one transaction, so each lock is held until its COMMIT; the longest hold: '
        'ACCESS EXCLUSIVE on "Recipe" from line 1 to the COMMIT after line 3 (reads and writes: every query on '
        'the table waits meanwhile); UPDATE "Recipe" SET "slug" = lower("name") WHERE … (line 2), '
        'CREATE INDEX "Recipe_slug_idx" ON "Recipe" ("slug… (line 3) run under it')
    alone = lint_step(step_of(tmp_path, sql, "statements"))
    assert "one transaction" not in alone.message and "COMMIT" not in alone.message


@pytest.mark.parametrize("sql, words", [
    # held longest: the index build's SHARE on "Category", taken first, with two slow statements
    # under it, not the stronger ACCESS EXCLUSIVE on "Recipe" taken after it
    ('CREATE INDEX IF NOT EXISTS category_name ON "Category" ("name");\n'
     'ALTER TABLE "Recipe" ADD COLUMN IF NOT EXISTS "x" int;\n'
     'UPDATE "Category" SET "name" = trim("name");\n',
     'the longest hold: SHARE on "Category" from line 1 to the COMMIT after line 3'),
    # a statement that cannot run in a transaction ends the file's first transaction before it
    ('ALTER TABLE "Recipe" ADD COLUMN IF NOT EXISTS "x" int;\n'
     'CREATE INDEX CONCURRENTLY IF NOT EXISTS recipe_x ON "Recipe" ("x");\n'
     'ALTER TABLE "Recipe" ADD COLUMN IF NOT EXISTS "y" int;\n',
     'ACCESS EXCLUSIVE on "Recipe" from line 1 to the COMMIT after line 1 (reads and writes: every query on the '
     'table waits meanwhile); only catalog changes run under it'),
    # DROP INDEX locks the index's table, known from the file
    ('CREATE INDEX CONCURRENTLY IF NOT EXISTS recipe_x ON "Recipe" ("x");\nDROP INDEX IF EXISTS recipe_x;\n'
     'UPDATE "Recipe" SET "x" = 0 WHERE "id" = 1;\n',
     'ACCESS EXCLUSIVE on "Recipe" from line 2 to the COMMIT after line 3'),
])
def test_the_longest_hold(tmp_path, sql, words):
    assert words in lint_step(step_of(tmp_path, sql, "transaction")).message


def test_a_file_in_one_transaction_that_takes_no_blocking_lock_has_no_hold(tmp_path):
    sql = "CREATE TABLE IF NOT EXISTS note (id bigint PRIMARY KEY);\nCREATE INDEX IF NOT EXISTS n ON note (id);\n"
    assert "one transaction" not in lint_step(step_of(tmp_path, sql, "transaction")).message


def test_a_where_that_restricts_nothing_is_a_whole_table_delete(tmp_path):
    [finding] = lint(tmp_path, 'DELETE FROM "Notification" WHERE true;\n')
    assert (finding.rule, finding.lock, finding.line) == ("unbatched-update-delete", "ROW EXCLUSIVE", 1)
    assert finding.message.startswith('DELETE of every row of "Notification"')


# Whole-table writes: (sql, words of the message). "every row" where it is certain, "may touch
# every row" where the WHERE restricts something other than the key.
WHOLE_TABLE = [
    ('UPDATE "Recipe" r SET "category" = c."name" FROM "Category" c WHERE r."categoryId" = c."id";\n',
     'UPDATE may touch every row of "Recipe" that has a match in "Category" (its WHERE only joins)'),
    ('DELETE FROM "RecipeItem" USING "Recipe" WHERE "RecipeItem"."recipeId" = "Recipe"."id";\n',
     'DELETE may touch every row of "RecipeItem" that has a match in "Recipe"'),
    ('ALTER TABLE "Recipe" ADD COLUMN IF NOT EXISTS "slug" text;\n'
     'UPDATE "Recipe" SET "slug" = lower("name") WHERE "slug" IS NULL;\n',
     'UPDATE of every row of "Recipe" ("slug" was just added with no default: NULL in every row)'),
    ('UPDATE "Recipe" SET "category" = NULL WHERE "id" != 1;\n', 'UPDATE of every row of "Recipe" (but one'),
    ('DELETE FROM "Recipe" WHERE id <> $1;\n', 'DELETE of every row of "Recipe" (but one'),
    ('UPDATE "Recipe" SET "category" = NULL WHERE 1 = 1;\n', 'UPDATE of every row of "Recipe"'),
    # bounded rounds of a loop with no COMMIT: all of them in the DO block's one transaction
    ("DO $$\nDECLARE lo bigint := 0;\nBEGIN\n    LOOP\n        UPDATE \"Recipe\" SET \"category\" = NULL "
     "WHERE \"id\" > lo AND \"id\" <= lo + 1000;\n        lo := lo + 1000;\n        EXIT WHEN lo > 5000;\n"
     "    END LOOP;\nEND $$;\n", 'UPDATE of every row of "Recipe" (each round bounded, but the loop has no COMMIT'),
    ("UPDATE \"Recipe\" SET \"category\" = NULL WHERE \"status\" = 'x';\n",
     'UPDATE may touch every row of "Recipe" in one transaction: its WHERE does not bound "Recipe"\'s key'),
    ('UPDATE "Recipe" SET "category" = NULL WHERE "id" > 5;\n', "may touch every row"),  # one end only
    ('UPDATE "Recipe" SET "category" = NULL WHERE "id" IN (SELECT "id" FROM "Recipe");\n', "may touch every row"),
    ('UPDATE "Recipe" r SET "category" = NULL WHERE r."id" = r."categoryId";\n', "may touch every row"),
    # a DEFAULT fills the new column: IS NULL finds no row, but the WHERE bounds no key either
    ('ALTER TABLE "Recipe" ADD COLUMN IF NOT EXISTS "slug" text DEFAULT \'\';\n'
     'UPDATE "Recipe" SET "slug" = lower("name") WHERE "slug" IS NULL;\n', "may touch every row"),
]
BOUNDED = [
    'UPDATE "Recipe" SET "category" = NULL WHERE "id" BETWEEN $1 AND $2;\n',
    'UPDATE "Recipe" SET "category" = NULL WHERE "id" >= 1000 AND "id" < 2000 AND "category" IS NOT NULL;\n',
    'UPDATE "Recipe" SET "category" = NULL WHERE 2000 > "id" AND "id" >= 1000;\n',
    'DELETE FROM "Recipe" WHERE "id" = 5;\n',
    'DELETE FROM "Recipe" WHERE "id" IN (1, 2, 3);\n',
    'DELETE FROM "Recipe" WHERE "id" = ANY($1);\n',
    'UPDATE "Recipe" SET "category" = NULL WHERE "id" IN (SELECT "id" FROM "Recipe" WHERE "category" IS NOT NULL '
    'ORDER BY "id" LIMIT 1000);\n',
    "UPDATE \"Recipe\" SET \"category\" = NULL WHERE ctid >= '(0,0)'::tid AND ctid < '(100,0)'::tid;\n",
    'UPDATE "Recipe" SET "category" = NULL WHERE "id" = 1 OR "id" BETWEEN 10 AND 20;\n',
    'UPDATE "Recipe" r SET "category" = c."name" FROM "Category" c WHERE r."categoryId" = c."id" '
    'AND r."id" BETWEEN 1 AND 1000;\n',
    'UPDATE "RecipeItem" SET "quantity" = 0 WHERE "RecipeItemId" = 4;\n',  # <table>Id
    'UPDATE recipe_item SET quantity = 0 WHERE recipe_item_id = 4;\n',  # <table>_id
    # PL/pgSQL variables bound the key inside a DO block
    "DO $$\nDECLARE lo bigint := 0;\nBEGIN\n    UPDATE \"Recipe\" SET \"category\" = NULL "
    "WHERE \"id\" BETWEEN lo AND lo + 999;\nEND $$;\n",
]


@pytest.mark.parametrize("sql,words", WHOLE_TABLE)
def test_a_write_whose_where_does_not_bound_the_key_is_a_whole_table_write(tmp_path, sql, words):
    [finding] = [f for f in lint(tmp_path, sql) if f.rule == "unbatched-update-delete"]
    assert words in finding.message
    certain = "may touch" not in words
    problem = "whole-table-write" if certain else "unbounded-write"  # the dry run measures which it was
    assert (finding.level, finding.lock, finding.problem) == ("warning", "ROW EXCLUSIVE", problem)
    if "DO $$" not in sql:
        assert finding.line == sql.count("\n")  # the last statement of each case
    assert ("may touch every row" in finding.message) is not certain


@pytest.mark.parametrize("sql", BOUNDED)
def test_a_write_bounded_to_a_key_range_or_set_is_batched(tmp_path, sql):
    assert "unbatched-update-delete" not in rules(lint(tmp_path, sql))


def test_the_key_is_the_primary_key_the_batch_declares(tmp_path):
    """Where an earlier step declares tag's primary key (code), id is just a column of tag."""
    earlier = parse_script("ALTER TABLE tag ADD CONSTRAINT tag_pkey PRIMARY KEY (code);\n")
    path = tmp_path / "later.sql"
    path.write_text("UPDATE tag SET id = 2 WHERE id = 1;\nUPDATE tag SET id = 2 WHERE code = 'a';\n")
    later = SqlFile(path=path, text=path.read_text(), statements=tuple(parse_script(path.read_text())))
    found = lint_file(later, step_kind="cutover", step_enabled=True, earlier=earlier)
    [finding] = [f for f in found if f.rule == "unbatched-update-delete"]
    assert finding.line == 1 and 'does not bound "tag"\'s key ("code")' in finding.message
    assert "unbatched-update-delete" in rules(lint(tmp_path, "UPDATE tag SET id = 2 WHERE code = 'a';\n"))


def test_the_shipped_backfill_loop_is_batched(tmp_path):
    step = load_batch(BATCH_ID).step("20250115160000_fix_recipe_category_fields_backfill")
    found = lint_file(step.forward, step_kind=step.kind, step_enabled=True)
    assert rules(found) == ["create-trigger-lock"]  # the UPDATE in the committing loop is not flagged


def test_statements_in_a_do_block_get_their_own_lines(tmp_path):
    sql = "-- header\n\n" + do("SELECT 1", 'UPDATE "Recipe" SET "category" = NULL')
    [finding] = lint(tmp_path, sql)
    assert (finding.rule, finding.line) == ("unbatched-update-delete", 6)
    assert finding.statement == 'UPDATE "Recipe" SET category = NULL'


def test_drops_in_a_disabled_cleanup_step_are_warnings(tmp_path):
    sql = ('ALTER TABLE "Recipe" DROP CONSTRAINT IF EXISTS recipe_category_mapped;\n'
           'ALTER TABLE "Recipe" DROP COLUMN IF EXISTS "category";\n')
    disabled = lint(tmp_path, sql, kind="cleanup", enabled=False)
    assert [(f.rule, f.level) for f in disabled] == [("drop-constraint", "warning"), ("drop-column", "warning")]
    enabled = lint(tmp_path, sql, kind="cleanup", enabled=True)
    assert [(f.rule, f.level) for f in enabled] == [("drop-constraint", "error"), ("drop-column", "error")]


def test_rollbacks_may_drop_but_are_linted_for_everything_else(tmp_path):
    sql = ('ALTER TABLE "Recipe" DROP CONSTRAINT IF EXISTS c;\nALTER TABLE "Recipe" DROP COLUMN IF EXISTS x;\n'
           "DROP FUNCTION IF EXISTS sync_recipe_category();\n"
           + do('ALTER TABLE "Recipe" ALTER COLUMN "name" SET NOT NULL'))
    found = lint(tmp_path, sql, rollback=True)
    assert [(f.rule, f.line) for f in found] == [("set-not-null", 6)]
    forward = lint(tmp_path, sql, kind="cutover")
    assert {"drop-constraint", "drop-column", "ban-drop-function", "set-not-null"} <= set(rules(forward))


def test_set_not_null_is_flagged_where_squawk_takes_any_check_as_proof(tmp_path):
    # squawk 2.70 accepts any validated CHECK on the table; only CHECK (col IS NOT NULL) lets
    # PostgreSQL skip the scan
    sql = ('ALTER TABLE "Recipe" ADD CONSTRAINT positive CHECK ("yieldQuantity" > 0) NOT VALID;\n'
           'ALTER TABLE "Recipe" VALIDATE CONSTRAINT positive;\n'
           'ALTER TABLE "Recipe" ALTER COLUMN "yieldQuantity" SET NOT NULL;\n')
    errors = [(f.rule, f.source, f.line) for f in lint(tmp_path, sql) if f.level == "error"]
    assert errors == [("set-not-null", "gonogo", 3)]


FIVE_RENAMES = "".join(f'ALTER TABLE "Recipe" RENAME COLUMN "c{i}" TO "d{i}";\n' for i in range(5))


def test_each_rename_is_an_error_with_squawks_rule_as_reference(tmp_path):
    found = [f for f in lint(tmp_path, FIVE_RENAMES + 'ALTER TABLE "Recipe" RENAME TO "Dish";\n') if f.level != "note"]
    assert [(f.rule, f.level, f.line, f.lock) for f in found] == [
        ("rename", "error", line, "ACCESS EXCLUSIVE") for line in range(1, 7)]
    assert [f.references for f in found] == [("renaming-column",)] * 5 + [("renaming-table",)]
    assert 'every running app version that names "Recipe"."c0" fails' in found[0].message
    assert 'CREATE VIEW "Recipe" AS SELECT * FROM "Dish"' in found[-1].help


def test_a_rollback_may_rename_back_and_drop_an_index_but_is_warned_of_it(tmp_path):
    sql = 'ALTER TABLE "Recipe" RENAME COLUMN "label" TO "name";\nDROP INDEX IF EXISTS "Recipe_label_idx";\n'
    found = [f for f in lint(tmp_path, sql, rollback=True) if f.level != "note"]
    assert [(f.rule, f.level, f.line) for f in found] == [
        ("rename", "warning", 1), ("drop-index-without-concurrently", "warning", 2)]
    assert '"label"' in found[0].message and "fails as soon as this rollback commits" in found[0].message


def test_drop_index_names_the_table_the_batch_indexed_and_the_fix(tmp_path):
    earlier = parse_script('CREATE INDEX CONCURRENTLY IF NOT EXISTS recipe_name ON "Recipe" ("name");\n')
    path = tmp_path / "later.sql"
    path.write_text("DROP INDEX IF EXISTS recipe_name, other_idx;\n")
    later = SqlFile(path=path, text=path.read_text(), statements=tuple(parse_script(path.read_text())))
    [finding] = [f for f in lint_file(later, step_kind="cutover", step_enabled=True, earlier=earlier)
                 if f.level != "note"]
    assert (finding.rule, finding.problem, finding.references) == (
        "drop-index-without-concurrently", "drop-index", ("require-concurrent-index-deletion",))
    assert "their tables" in finding.message
    assert finding.help.startswith("DROP INDEX CONCURRENTLY IF EXISTS recipe_name; "
                                   "DROP INDEX CONCURRENTLY IF EXISTS other_idx;")
    path.write_text("DROP INDEX recipe_name;\n")
    later = SqlFile(path=path, text=path.read_text(), statements=tuple(parse_script(path.read_text())))
    [finding] = [f for f in lint_file(later, step_kind="cutover", step_enabled=True, earlier=earlier)
                 if f.level != "note"]
    assert 'ACCESS EXCLUSIVE on "Recipe"' in finding.message


def test_squawk_alone_does_not_report_a_rename_or_drop_index_gonogo_judged_harmless(tmp_path):
    # squawk flags both; the column and the index are this file's own, so nothing is in use
    sql = ('ALTER TABLE "Recipe" ADD COLUMN IF NOT EXISTS "slugg" text;\n'
           'ALTER TABLE "Recipe" RENAME COLUMN "slugg" TO "slug";\n'
           'CREATE INDEX CONCURRENTLY IF NOT EXISTS recipe_slug ON "Recipe" ("slug");\n'
           "DROP INDEX IF EXISTS recipe_slug;\n")
    found = lint(tmp_path, sql)
    assert not [f for f in found if f.key_problem in ("rename", "drop-index")], found


# -- squawk ---------------------------------------------------------------------------------------

def test_squawk_findings_come_with_source_and_lock(tmp_path):
    sql = '-- all of it\n\nTRUNCATE "Recipe"\n    CASCADE;\n'
    [finding] = lint(tmp_path, sql)
    assert (finding.rule, finding.source, finding.level, finding.line) == ("ban-truncate-cascade", "squawk", "error", 3)
    assert finding.lock == "ACCESS EXCLUSIVE" and finding.blocks == locks.blocks("ACCESS EXCLUSIVE")
    assert finding.statement == 'TRUNCATE "Recipe" CASCADE'


def test_one_problem_is_reported_once(tmp_path):
    # squawk and gonogo both see this type change: one finding, gonogo's, squawk's rule named
    # beside it; the statement's other problem (not re-runnable) is a finding of its own
    found = lint(tmp_path, 'ALTER TABLE "Recipe" ALTER COLUMN "yieldQuantity" TYPE bigint;\n')
    assert [(f.rule, f.source, f.level, f.references) for f in found] == [
        ("alter-column-type", "gonogo", "error", ("changing-column-type",)),
        ("prefer-robust-stmts", "squawk", "note", ())]
    assert "ACCESS EXCLUSIVE" in found[0].message and found[0].help


def test_validate_in_the_transaction_of_its_add_names_the_lock_still_held(tmp_path):
    sql = ('BEGIN;\nALTER TABLE "Recipe" ADD CONSTRAINT c CHECK ("yieldQuantity" > 0) NOT VALID;\n'
           'ALTER TABLE "Recipe" VALIDATE CONSTRAINT c;\nCOMMIT;\n')
    found = lint(tmp_path, sql)
    assert [(f.line, f.level, f.lock) for f in found] == [(3, "error", "ACCESS EXCLUSIVE")]


def test_excluded_squawk_rules_do_not_appear(tmp_path):
    sql = ("CREATE TABLE IF NOT EXISTS note (id serial PRIMARY KEY, title varchar(20), code char(3),\n"
           "    at timestamp, small smallint, n int);\n"
           "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'calm';\n"
           'ALTER TABLE "Recipe" DROP CONSTRAINT IF EXISTS c;\n'
           'ALTER TABLE "Recipe" DROP COLUMN IF EXISTS x;\n')
    raw = subprocess.run([squawk_binary(), "--reporter", "json", "--stdin-filepath", "x.sql"],
                         input=sql, capture_output=True, text=True)
    assert set(EXCLUDED_RULES) <= {v["rule_name"] for v in json.loads(raw.stdout)}  # squawk's defaults
    found = lint(tmp_path, sql, kind="cleanup", enabled=False)
    assert not set(rules(found)) & set(EXCLUDED_RULES)
    assert rules(found) == ["drop-constraint", "drop-column"]  # gonogo's, knowing the step
    assert all(reason for reason in EXCLUDED_RULES.values())


def test_squawk_lints_in_autocommit_like_gonogo_runs_files(tmp_path):
    # not assumed to be in a transaction: an unguarded ADD COLUMN could not be re-run
    [finding] = lint(tmp_path, 'ALTER TABLE "Recipe" ADD COLUMN note text;\n')
    assert (finding.rule, finding.level, finding.lock) == ("prefer-robust-stmts", "note", "ACCESS EXCLUSIVE")
    # ... and CONCURRENTLY inside an explicit BEGIN is an error
    sql = 'BEGIN;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON "Recipe" ("name");\nCOMMIT;\n'
    assert [(f.rule, f.level, f.line) for f in lint(tmp_path, sql)] == [
        ("ban-concurrent-index-creation-in-transaction", "error", 2)]


def test_validate_constraint_alone_is_not_reported_as_unrobust(tmp_path):
    assert lint(tmp_path, 'ALTER TABLE "Recipe" VALIDATE CONSTRAINT c;\n') == []


def test_a_missing_squawk_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SquawkNotFound, match="squawk-cli"):
        lint(tmp_path, "SELECT 1;\n")


# -- a batch --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    batch = load_batch(BATCH_ID)
    return batch, lint_batch(batch)


def test_one_result_per_step_with_the_gate_fields(shipped):
    batch, results = shipped
    assert [r.subject for r in results] == [s.name for s in batch.steps]
    for result in results:
        assert (result.gate, result.title, result.phase, result.threshold) == (
            "lint", "Static lint", "preflight", "no errors")
        for detail in result.details:
            assert set(detail) == DETAIL_KEYS
            assert detail["source"] in {"squawk", "gonogo"} and detail["level"] in {"error", "warning", "note"}


def test_the_shipped_batch_has_no_errors(shipped):
    batch, results = shipped
    assert not [r for r in results if r.verdict is Verdict.FAIL]
    by_step = {r.subject: r for r in results}
    backfill = by_step["20250115160000_fix_recipe_category_fields_backfill"]
    assert backfill.verdict is Verdict.WARN
    assert [(d["rule"], d["lock"]) for d in backfill.details] == [("create-trigger-lock", "SHARE ROW EXCLUSIVE")]
    cleanup = by_step["20250115160002_fix_recipe_category_fields_cleanup"]
    assert "disabled step" in cleanup.message
    assert {(d["rule"], d["file"].split("/")[0]) for d in cleanup.details} == {
        ("ban-drop-function", "migrations"), ("drop-constraint", "migrations"), ("drop-column", "migrations"),
        ("create-trigger-lock", "rollbacks")}
    assert cleanup.value == "4 findings (4 warnings)"
    clean = [r for r in results if r.verdict is Verdict.PASS]
    assert len(clean) == 5 and all(r.value == "no findings" and not r.details for r in clean)


def test_a_table_an_earlier_step_creates_is_new_to_the_later_steps(copied_batch):
    migrations = copied_batch / BATCH_ID / "migrations"
    first = migrations / "20250115120000_add_composite_unique_constraints.sql"
    first.write_text(first.read_text() + '\nCREATE TABLE IF NOT EXISTS "Tag" (id bigint PRIMARY KEY, '
                                        '"recipeId" int, name text);\n')
    later = migrations / "20250115150000_add_performance_indexes.sql"
    lines = later.read_text().count("\n")
    later.write_text(later.read_text() + '\nCREATE INDEX IF NOT EXISTS tag_name ON "Tag" (name);\n'
                     'ALTER TABLE "Tag" ADD CONSTRAINT tag_name_key UNIQUE (name);\n'
                     "UPDATE \"Tag\" SET name = '';\n")
    batch = load_batch(BATCH_ID, root=copied_batch)
    step = batch.step("20250115150000_add_performance_indexes")
    added = lambda result: [d for d in result.details if d["file"].endswith(later.name)  # noqa: E731
                            and d["line"] > lines and d["level"] != "note"]
    [result] = [r for r in lint_batch(batch) if r.subject == step.name]
    assert added(result) == []
    alone = lint_step(step)  # without the batch, "Tag" is a table the app uses
    assert {d["rule"] for d in added(alone)} >= {"index-without-concurrently", "constraint-builds-index",
                                                 "unbatched-update-delete"}


def test_a_migration_renaming_five_columns_exits_1(copied_batch):
    cutover = copied_batch / BATCH_ID / "migrations" / "20250115160001_fix_recipe_category_fields_cutover.sql"
    cutover.write_text(cutover.read_text() + "\n" + FIVE_RENAMES)
    done = subprocess.run([sys.executable, "-m", "gonogo", "lint", str(copied_batch / BATCH_ID)],
                          capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.count("rename") >= 5


@pytest.fixture
def copied_batch(tmp_path):
    """The shipped batch in tmp_path, with the sql/ and sample_app/ folders its manifest points at."""
    root = tmp_path / "batches"
    shutil.copytree(SHIPPED_BATCHES / BATCH_ID, root / BATCH_ID)
    for folder in ("sql", "sample_app"):
        shutil.copytree(SHIPPED_BATCHES.parent / folder, tmp_path / folder)
    return root


def test_a_bad_migration_fails_naming_statement_and_line(copied_batch):
    cutover = copied_batch / BATCH_ID / "migrations" / "20250115160001_fix_recipe_category_fields_cutover.sql"
    lines = cutover.read_text().count("\n")
    cutover.write_text(cutover.read_text() + '\nALTER TABLE "Recipe" ALTER COLUMN "categoryId" SET NOT NULL;\n')
    results = {r.subject: r for r in lint_batch(load_batch(BATCH_ID, root=copied_batch))}
    result = results["20250115160001_fix_recipe_category_fields_cutover"]
    assert result.verdict is Verdict.FAIL
    assert result.value == "2 findings (1 error, 1 note)"  # the note: ALTER ... without IF EXISTS
    where = f"migrations/{cutover.name} line {lines + 2}"
    assert where in result.message
    [detail] = [d for d in result.details if d["level"] == "error"]
    assert detail["line"] == lines + 2 and detail["lock"] == "ACCESS EXCLUSIVE"
    assert detail["statement"] == 'ALTER TABLE "Recipe" ALTER COLUMN "categoryId" SET NOT NULL'
    assert detail["blocks"] == locks.blocks("ACCESS EXCLUSIVE")
    assert "CHECK" in result.hint
    assert [r.subject for r in results.values() if r.verdict is Verdict.FAIL] == [result.subject]


# -- type changes without a rewrite ----------------------------------------------------------------

def test_a_type_change_from_a_type_seen_earlier_in_the_file_is_judged_from_it(tmp_path):
    sql = ('ALTER TABLE "Recipe" ADD COLUMN "slug" varchar(50);\n'
           'ALTER TABLE "Recipe" ALTER COLUMN "slug" TYPE varchar(100);\n'
           'ALTER TABLE "Recipe" ALTER COLUMN "slug" TYPE text;\n'
           'ALTER TABLE "Recipe" ALTER COLUMN "slug" TYPE varchar(20);\n')
    found = [f for f in lint(tmp_path, sql) if f.key_problem == "rewrite"]
    # squawk's changing-column-type is gone where gonogo sees no rewrite, merged where it does
    assert [(f.line, f.rule, f.level, f.references) for f in found] == [
        (4, "alter-column-type", "error", ("changing-column-type",))]
    assert "(from text)" in found[0].message


def test_an_unseen_old_type_gives_a_warning_naming_the_types_that_make_it_free(tmp_path):
    [finding] = [f for f in lint(tmp_path, 'ALTER TABLE "Recipe" ALTER COLUMN "name" TYPE varchar(200);\n')
                 if f.key_problem == "rewrite"]
    assert (finding.rule, finding.level) == ("alter-column-type", "warning")
    assert "unless the column is now varchar(n) with n <= 200" in finding.message
    [error] = [f for f in lint(tmp_path, 'ALTER TABLE "Recipe" ALTER COLUMN "servings" TYPE bigint;\n')
               if f.key_problem == "rewrite"]
    assert error.level == "error"


PRISMA_INIT = ('CREATE TABLE "User" ("id" SERIAL NOT NULL, "email" VARCHAR(100) NOT NULL, "score" DECIMAL(10,2),\n'
               '    CONSTRAINT "User_pkey" PRIMARY KEY ("id"));\n'
               'CREATE TABLE "Post" ("id" SERIAL NOT NULL, "authorId" INTEGER NOT NULL,\n'
               '    CONSTRAINT "Post_pkey" PRIMARY KEY ("id"));\n'
               'ALTER TABLE "Post" ADD CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") '
               'REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;\n')
PRISMA_WIDEN = ('-- AlterTable\nALTER TABLE "User" ALTER COLUMN "email" SET DATA TYPE TEXT,\n'
                'ALTER COLUMN "score" SET DATA TYPE DECIMAL(12,2);\n')


@pytest.fixture
def prisma_batch(tmp_path):
    """A Prisma folder of two migrations and a batch folder with the team's rollback of the second."""
    from gonogo.tools.imported import import_batch

    folder = tmp_path / "prisma" / "migrations"
    for name, text in (("20240101000000_init", PRISMA_INIT), ("20240102000000_widen", PRISMA_WIDEN)):
        (folder / name).mkdir(parents=True)
        (folder / name / "migration.sql").write_text(text)
    (folder / "migration_lock.toml").write_text('provider = "postgresql"\n')
    home = tmp_path / "batch"
    (home / "rollbacks").mkdir(parents=True)
    (home / "rollbacks" / "20240102000000_widen.sql").write_text(
        'ALTER TABLE "User" ALTER COLUMN "email" SET DATA TYPE VARCHAR(100);\n')
    return import_batch("prisma", folder, batch_folder=home)


def test_a_type_is_known_from_the_migrations_production_applied_and_from_earlier_steps(prisma_batch):
    from gonogo.tools.imported import pinned

    pending = pinned(prisma_batch, ["20240102000000_widen"], ["20240101000000_init"])  # as pending() finds it
    # production has "User": the widening is catalog-only; its rollback (text -> varchar(100)) rewrites
    result = lint_batch(pending)[-1]
    rewrites = [(d["file"].split("/")[0], d["level"]) for d in result.details if d["problem"] == "rewrite"]
    assert rewrites == [("rollbacks", "error")], result.details
    # the whole folder on an empty database: "User" is the batch's own, new, nobody waits on it
    result = lint_batch(prisma_batch)[-1]
    assert not [d for d in result.details if d["problem"] == "rewrite"], result.details


# -- fixes PostgreSQL accepts ------------------------------------------------------------------------

@pytest.mark.parametrize("constraint", ['UNIQUE ("name")', 'PRIMARY KEY ("id")',
                                        'EXCLUDE USING gist ("name" WITH =)'])
def test_no_fix_for_a_unique_primary_key_or_exclusion_constraint_says_not_valid(tmp_path, constraint):
    found = lint(tmp_path, f'ALTER TABLE "Recipe" ADD CONSTRAINT "Recipe_name_key" {constraint};\n')
    risks = [f for f in found if f.level != "note"]
    # squawk's constraint-missing-not-valid ("Use NOT VALID") is merged into gonogo's index-build finding
    assert [(f.rule, f.key_problem) for f in risks] == [("constraint-builds-index", "index-build-exclusive")]
    assert "constraint-missing-not-valid" in risks[0].references
    assert all("NOT VALID" not in f.help or "refused" in f.help for f in found), [f.help for f in found]
    if constraint.startswith("EXCLUDE"):
        assert "USING INDEX" not in risks[0].help.replace("NOT VALID and USING INDEX are refused", "")
    else:
        kind = constraint.split(" (")[0]
        assert (f'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "Recipe_name_key" ON "Recipe" ({constraint.split("(")[1]}'
                in risks[0].help)
        assert f'ADD CONSTRAINT "Recipe_name_key" {kind} USING INDEX "Recipe_name_key"' in risks[0].help



def test_a_foreign_key_finding_names_the_lock_on_the_referenced_table(tmp_path):
    [finding] = [f for f in lint(tmp_path, FK + ";\n") if f.rule == "constraint-without-not-valid"]
    assert finding.other_locks == (("Recipe", "SHARE ROW EXCLUSIVE"),)
    assert 'it also takes SHARE ROW EXCLUSIVE on "Recipe"' in finding.message
    assert finding.to_detail()["other_locks"] == {"Recipe": "SHARE ROW EXCLUSIVE"}
    # a drop of it, its ADD made by an earlier step: ACCESS EXCLUSIVE on "Recipe" too
    from gonogo.lint import KnownSchema

    sql = 'ALTER TABLE "RecipeItem" DROP CONSTRAINT fk;\n'
    path = tmp_path / "cleanup.sql"
    path.write_text(sql)
    dropping = SqlFile(path=path, text=sql, statements=tuple(parse_script(sql)), mode="statements")
    found = lint_file(dropping, step_kind="cleanup", step_enabled=False, known=KnownSchema.of(parse_script(FK)))
    assert [(f.rule, f.other_locks) for f in found if f.level != "note"] == [
        ("drop-constraint", (("Recipe", "ACCESS EXCLUSIVE"),))]


def test_a_check_written_on_a_new_column_is_a_scan_under_access_exclusive(tmp_path):
    # Django writes `ADD COLUMN "rating" integer DEFAULT 0 NOT NULL CHECK ("rating" >= 0)`: the
    # CHECK cannot be NOT VALID there, and PostgreSQL checks every existing row under the ALTER's lock
    [finding] = [f for f in lint(tmp_path, 'ALTER TABLE "Recipe" ADD COLUMN "rating" integer DEFAULT 0 NOT NULL '
                                           'CHECK ("rating" >= 0);\n') if f.level == "error"]
    assert (finding.rule, finding.lock, finding.key_problem) == (
        "constraint-without-not-valid", "ACCESS EXCLUSIVE", "validation-scan")
    assert "NOT VALID" in finding.help
    assert not [f for f in lint(tmp_path, 'ALTER TABLE "Recipe" ADD COLUMN "rating" integer DEFAULT 0;\n')
                if f.level == "error"]


def test_a_new_columns_references_is_a_scan_only_when_a_default_fills_the_rows(tmp_path):
    # fider's `ADD COLUMN user_id INT REFERENCES users(id)`: every row NULL, nothing to check
    # (PostgreSQL read 0 rows); with DEFAULT 1 it checks every row (read them all)
    empty = lint(tmp_path, 'ALTER TABLE ideas ADD COLUMN user_id int REFERENCES users (id);\n')
    assert not [f for f in empty if f.level == "error"], empty
    [filled] = [f for f in lint(tmp_path, 'ALTER TABLE ideas ADD COLUMN tenant_id int NOT NULL DEFAULT 1 '
                                          'REFERENCES tenants (id);\n') if f.level == "error"]
    assert (filled.rule, filled.key_problem, filled.lock) == (
        "constraint-without-not-valid", "validation-scan", "ACCESS EXCLUSIVE")
    assert "adding-foreign-key-constraint" in filled.references


def test_a_renamed_table_keeps_its_rows_for_the_lint(tmp_path):
    # ente's migration renames a table, then backfills and SET NOT NULLs it: the renamed table is not new
    sql = ('ALTER TABLE temporary_object_keys RENAME TO temp_objects;\n'
           "UPDATE temp_objects SET is_multipart = 'f';\n"
           'ALTER TABLE temp_objects ALTER COLUMN is_multipart SET NOT NULL;\n')
    found = {(f.line, f.rule) for f in lint(tmp_path, sql) if f.level != "note"}
    assert {(2, "unbatched-update-delete"), (3, "set-not-null")} <= found, found


def test_an_unnamed_constraint_or_index_is_named_by_its_columns_not_by_a_blank(tmp_path):
    """Rails and hand-written SQL often leave a foreign key unnamed: no 'ADD CONSTRAINT  FOREIGN KEY'."""
    sql = ('ALTER TABLE "RecipeItem" ADD FOREIGN KEY ("recipeId", "unitId") REFERENCES "Recipe" ("id", "unitId");\n'
           'ALTER TABLE "Recipe" ADD UNIQUE ("name");\n'
           'CREATE INDEX ON "Recipe" ("name");\n')
    found = {f.rule: f.message for f in lint(tmp_path, sql)}
    assert found["constraint-without-not-valid"].startswith(
        'ADD FOREIGN KEY ("recipeId", "unitId") on "RecipeItem" checks every row')
    assert found["constraint-builds-index"].startswith('ADD UNIQUE ("name") on "Recipe" builds its index')
    assert found["index-without-concurrently"].startswith('CREATE INDEX on "Recipe" without CONCURRENTLY')
    assert not [m for m in found.values() if "  " in m]


def test_a_stored_generated_column_is_not_told_to_add_it_then_set_a_default(tmp_path):
    """PostgreSQL 15 cannot make an existing column generated: 'add it without the default, then
    SET DEFAULT' would end with a plain column (seen on a Go project's search column)."""
    sql = ('ALTER TABLE "Recipe" ADD COLUMN "search" tsvector\n'
           "    GENERATED ALWAYS AS (to_tsvector('simple', \"name\")) STORED;\n")
    [finding] = [f for f in lint(tmp_path, sql) if f.rule == "table-rewrite"]
    assert finding.level == "error" and "GENERATED ALWAYS AS (...) STORED" in finding.message
    assert "SET DEFAULT" not in finding.help and "trigger" in finding.help


def test_an_upsert_from_a_query_may_update_every_row_and_one_from_values_does_not(tmp_path):
    """A recomputed summary (INSERT ... SELECT ... ON CONFLICT DO UPDATE) rewrote every row of its
    table in one transaction on a Go project's migration, and neither lint said a word."""
    recompute = ('INSERT INTO "Category" ("companyId", "name")\n'
                 'SELECT "companyId", lower("category") FROM "Recipe" GROUP BY 1, 2\n'
                 'ON CONFLICT ("companyId", "name") DO UPDATE SET "name" = EXCLUDED."name";\n')
    [finding] = [f for f in lint(tmp_path, recompute) if f.rule == "unbatched-update-delete"]
    assert (finding.problem, finding.level, finding.lock) == ("unbounded-write", "warning", "ROW EXCLUSIVE")
    assert 'may update every row of "Category"' in finding.message and 'reads "Recipe"' in finding.message
    listed = ('INSERT INTO "Category" ("companyId", "name") VALUES (1, \'a\')\n'
              'ON CONFLICT ("companyId", "name") DO UPDATE SET "name" = EXCLUDED."name";\n')
    nothing = recompute.replace('DO UPDATE SET "name" = EXCLUDED."name"', "DO NOTHING")
    assert not [f for sql in (listed, nothing) for f in lint(tmp_path, sql) if f.rule == "unbatched-update-delete"]
