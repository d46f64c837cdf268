-- Verify tracker:issues on pg

BEGIN;

SELECT id, project_id, author_id, title, body, status, created_at, updated_at
  FROM issues
 WHERE FALSE;

ROLLBACK;
