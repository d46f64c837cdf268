-- Revert tracker:users from pg

BEGIN;

DROP TABLE users;
DROP TYPE user_role;

COMMIT;
