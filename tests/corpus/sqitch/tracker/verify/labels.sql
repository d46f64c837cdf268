-- Verify tracker:labels on pg

BEGIN;

SELECT id, project_id, name, color FROM labels WHERE FALSE;
SELECT issue_id, label_id FROM issue_labels WHERE FALSE;

ROLLBACK;
