-- Verify tracker:projects on pg

BEGIN;

SELECT id, name, owner_id, created_at
  FROM projects
 WHERE FALSE;

ROLLBACK;
