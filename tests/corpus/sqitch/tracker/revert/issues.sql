-- Revert tracker:issues from pg

BEGIN;

DROP TABLE issues;

COMMIT;
