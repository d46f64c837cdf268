-- Rollback of ${step}: undo what the migration did, in reverse order, so the schema equals the
-- schema before the batch (the dry run rehearses it on staging and compares).
--
-- Runs like the migration (statement by statement, autocommit) and may run after a migration
-- that failed part way: use IF EXISTS, and DROP INDEX CONCURRENTLY for an index the migration built.
-- If there is truly nothing to undo, say why here and keep a SELECT 1.

SELECT 1;  -- placeholder: replace with the rollback
