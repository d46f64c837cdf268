-- Verify tracker:users on pg

BEGIN;

SELECT id, email, name, role, created_at
  FROM users
 WHERE FALSE;

SELECT 'member'::user_role;

ROLLBACK;
