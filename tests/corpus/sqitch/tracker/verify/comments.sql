-- Verify tracker:comments on pg

BEGIN;

SELECT id, issue_id, author_id, body, created_at
  FROM comments
 WHERE FALSE;

ROLLBACK;
