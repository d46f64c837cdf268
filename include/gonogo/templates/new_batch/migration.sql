-- ${step}: say what this migration changes and why it is safe on a busy table.
--
-- gonogo runs this file statement by statement in autocommit, like psql -f: each statement is
-- its own transaction unless the file says BEGIN ... COMMIT. A failed run is run again, so
-- write every statement to be re-runnable (IF NOT EXISTS, or a DO block that checks the catalog).
--
-- Patterns that keep the app's reads and writes flowing (python -m gonogo lint flags the rest):
--   CREATE INDEX CONCURRENTLY IF NOT EXISTS ..., as a statement of its own, outside BEGIN ... COMMIT
--   ALTER TABLE ... ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT as a statement of its own
--   a unique constraint: CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE USING INDEX
--   SET NOT NULL: CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL
--   a column's new type or values: a new column, a dual-write trigger, a batched backfill (the
--   manifest's backfill), the old column dropped later in a cleanup step that stays disabled
--
-- Replace the placeholder below with the migration.

SELECT 1;  -- placeholder: gonogo refuses a file without a statement
