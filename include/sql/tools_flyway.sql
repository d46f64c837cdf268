-- Flyway's history table (gonogo.tools.flyway): one row per migration run, in installed_rank order.

-- name: flyway_create
-- Flyway's own DDL for PostgreSQL (flyway-database-postgresql, PostgreSQLDatabase.getRawCreateScript).
CREATE TABLE "public"."flyway_schema_history" (
    "installed_rank" INT NOT NULL,
    "version" VARCHAR(50),
    "description" VARCHAR(200) NOT NULL,
    "type" VARCHAR(20) NOT NULL,
    "script" VARCHAR(1000) NOT NULL,
    "checksum" INTEGER,
    "installed_by" VARCHAR(100) NOT NULL,
    "installed_on" TIMESTAMP NOT NULL DEFAULT now(),
    "execution_time" INTEGER NOT NULL,
    "success" BOOLEAN NOT NULL
);
ALTER TABLE "public"."flyway_schema_history" ADD CONSTRAINT "flyway_schema_history_pk" PRIMARY KEY ("installed_rank");
CREATE INDEX "flyway_schema_history_s_idx" ON "public"."flyway_schema_history" ("success");

-- name: flyway_exists
SELECT to_regclass('public.flyway_schema_history') IS NOT NULL;

-- name: flyway_applied
SELECT version, type, checksum, success FROM "public"."flyway_schema_history" ORDER BY installed_rank;

-- name: flyway_record
-- As JdbcTableSchemaHistory.doAddAppliedMigration: the next installed_rank, installed_by the
-- session's user, installed_on the column's default.
INSERT INTO "public"."flyway_schema_history"
       (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)
SELECT coalesce(max(installed_rank), 0) + 1, %(version)s, %(description)s, 'SQL', %(script)s, %(checksum)s,
       current_user, %(execution_time)s, true
  FROM "public"."flyway_schema_history";

-- name: flyway_forget
DELETE FROM "public"."flyway_schema_history" WHERE version = %(version)s AND type = 'SQL';
