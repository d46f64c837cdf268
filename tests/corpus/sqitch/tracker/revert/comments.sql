-- Revert tracker:comments from pg

BEGIN;

DROP TABLE comments;

COMMIT;
