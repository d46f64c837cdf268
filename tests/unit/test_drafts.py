"""Drafted rollbacks: the inverse of additive DDL, and a named stop for everything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from gonogo.authoring.drafts import NoDraft, draft_rollback
from gonogo.postgres.sqlfile import read_sql_file


def draft(sql: str, mode: str = "transaction") -> list[str]:
    up = read_sql_file(Path("/app/m/migration.sql"), mode=mode, text=sql)
    rollback = draft_rollback(up, Path("/batch/rollbacks/m.sql"))
    assert rollback.mode == mode and rollback.text.startswith("-- drafted by gonogo")
    return [s.sql for s in rollback.statements]


def test_additive_ddl_is_undone_in_reverse_order():
    assert draft('CREATE TYPE "Role" AS ENUM (\'a\');\n'
                 'CREATE SEQUENCE s;\n'
                 'ALTER TABLE "Post" ADD COLUMN "role" "Role", ADD CONSTRAINT "Post_role_check" CHECK (true);\n'
                 'CREATE INDEX "Post_role_idx" ON "Post" ("role");\n'
                 'CREATE VIEW v AS SELECT 1;\n'
                 'CREATE TRIGGER t BEFORE INSERT ON "Post" FOR EACH ROW EXECUTE FUNCTION f();\n'
                 'CREATE EXTENSION citext;\n') == [
        'DROP EXTENSION IF EXISTS "citext"',  # identifiers always quoted (psycopg.sql)
        'DROP TRIGGER IF EXISTS "t" ON "Post"',
        'DROP VIEW IF EXISTS "v"',
        'DROP INDEX CONCURRENTLY IF EXISTS "Post_role_idx"',  # the table was there: the app is using it
        'ALTER TABLE "Post" DROP CONSTRAINT IF EXISTS "Post_role_check"',
        'ALTER TABLE "Post" DROP COLUMN IF EXISTS "role"',
        'DROP SEQUENCE IF EXISTS "s"',
        'DROP TYPE IF EXISTS "Role"']


def test_a_new_tables_indexes_and_keys_go_with_it():
    assert draft('CREATE TABLE "Tag" ("id" SERIAL NOT NULL, "name" TEXT NOT NULL);\n'
                 'CREATE UNIQUE INDEX "Tag_name_key" ON "Tag"("name");\n'
                 'ALTER TABLE "Tag" ADD CONSTRAINT "Tag_pkey" PRIMARY KEY ("id");\n'
                 'ALTER TABLE "Post" ADD CONSTRAINT "Post_tagId_fkey" FOREIGN KEY ("tagId") REFERENCES "Tag"("id");\n'
                 ) == ['ALTER TABLE "Post" DROP CONSTRAINT IF EXISTS "Post_tagId_fkey"', 'DROP TABLE IF EXISTS "Tag"']


def test_schema_qualified_names_are_kept_and_quoted():
    assert draft("CREATE TABLE app.\"Odd Name\" (id int);\n") == ['DROP TABLE IF EXISTS "app"."Odd Name"']


@pytest.mark.parametrize("sql,why", [
    ('UPDATE "Post" SET "role" = \'a\' FROM "User" u WHERE u.id = "Post"."authorId"', "only the team knows the old values"),
    ('DELETE FROM "Post" WHERE id > 10', "restore it from a backup"),
    ('ALTER TABLE "Post" RENAME COLUMN "body" TO "content"', "rename it back"),
    ('ALTER TABLE "Post" ALTER COLUMN "title" TYPE text', "change it back to the old type"),
    ('ALTER TABLE "Post" ALTER COLUMN "title" SET NOT NULL', "DROP NOT NULL only if it was nullable before"),
    ("ALTER TYPE \"Role\" ADD VALUE 'b'", "cannot remove an enum value"),
    ('DROP INDEX "Post_role_idx"', "recreate it from the previous schema"),
    ('ALTER TABLE "Post" DROP COLUMN "legacy"', "re-add it and restore the data"),
    ('CREATE TABLE IF NOT EXISTS "Tag" (id int)', "IF NOT EXISTS may have found the table there already"),
    ('ALTER TABLE "Post" ADD COLUMN IF NOT EXISTS "x" int', "may have found the column there already"),
    ("CREATE EXTENSION IF NOT EXISTS pg_trgm", "may have found the extension there already"),
    ('CREATE INDEX ON "Post" ("title")', "PostgreSQL picks one, so name it"),
    ("CREATE OR REPLACE VIEW v AS SELECT 2", "may have replaced a view"),
])
def test_what_needs_the_old_state_names_file_line_and_statement(sql, why):
    with pytest.raises(NoDraft) as caught:
        draft(f"CREATE TABLE ok (id int);\n{sql};\n")
    [missing] = caught.value.missing
    assert str(missing).startswith(f"write the rollback for /app/m/migration.sql line 2: {sql[:40]}")
    assert why in str(missing)
