-- golang-migrate's history table (gonogo.tools.golang_migrate): at most one row, the current
-- version and whether a migration to it failed half-way (dirty).

-- name: golang_migrate_create
-- golang-migrate's own DDL (database/postgres/postgres.go, ensureVersionTable).
CREATE TABLE IF NOT EXISTS "public"."schema_migrations" (version bigint not null primary key, dirty boolean not null);

-- name: golang_migrate_applied
SELECT version, dirty FROM "public"."schema_migrations";

-- name: golang_migrate_clear
-- SetVersion: the table is emptied, then holds the new version (none below the first migration).
TRUNCATE "public"."schema_migrations";

-- name: golang_migrate_set
INSERT INTO "public"."schema_migrations" (version, dirty) VALUES (%(version)s, false);
