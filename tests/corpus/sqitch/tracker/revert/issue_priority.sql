-- Revert tracker:issue_priority from pg

BEGIN;

ALTER TABLE issues
    DROP COLUMN closed_at,
    DROP COLUMN estimate,
    DROP COLUMN priority;

DROP TYPE issue_priority;

COMMIT;
