-- The migration tools' own history tables (gonogo.tools): what each tool reads to know what a
-- database has applied, and the row it writes when it applies a migration — which gonogo
-- writes too, in the migration's own transaction, so the tool's status stays true.

-- name: prisma_create
-- Prisma's own DDL for its table (created by the first `prisma migrate deploy`).
CREATE TABLE IF NOT EXISTS public."_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
);

-- name: prisma_applied
SELECT migration_name, checksum, finished_at, rolled_back_at
  FROM public."_prisma_migrations" ORDER BY started_at;

-- name: prisma_record
INSERT INTO public."_prisma_migrations"
       (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
VALUES (%(id)s, %(checksum)s, clock_timestamp(), %(name)s, NULL, NULL, %(started)s, 1);

-- name: prisma_forget
DELETE FROM public."_prisma_migrations" WHERE migration_name = %(name)s AND rolled_back_at IS NULL;
