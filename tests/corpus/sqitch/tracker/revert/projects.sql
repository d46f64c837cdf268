-- Revert tracker:projects from pg

BEGIN;

DROP TABLE projects;

COMMIT;
