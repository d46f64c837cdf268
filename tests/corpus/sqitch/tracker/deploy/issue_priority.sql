-- Deploy tracker:issue_priority to pg
-- requires: issues@v1.0

BEGIN;

CREATE TYPE issue_priority AS ENUM ('low', 'medium', 'high', 'urgent');

ALTER TABLE issues
    ADD COLUMN priority  issue_priority NOT NULL DEFAULT 'medium',
    ADD COLUMN estimate  INTEGER,
    ADD COLUMN closed_at TIMESTAMPTZ;

-- Closed issues were last updated when they were closed.
UPDATE issues
   SET closed_at = updated_at
 WHERE status = 'closed';

COMMIT;
