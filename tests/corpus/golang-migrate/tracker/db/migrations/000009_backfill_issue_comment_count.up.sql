BEGIN;

ALTER TABLE issues ADD COLUMN comment_count INTEGER NOT NULL DEFAULT 0;

UPDATE issues
SET comment_count = c.n
FROM (SELECT issue_id, COUNT(*) AS n FROM comments GROUP BY issue_id) AS c
WHERE c.issue_id = issues.id;

COMMIT;
