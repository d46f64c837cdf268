-- Revert tracker:labels from pg

BEGIN;

DROP TABLE issue_labels;
DROP TABLE labels;

COMMIT;
