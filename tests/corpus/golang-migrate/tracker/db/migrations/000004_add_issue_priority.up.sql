CREATE TYPE issue_priority AS ENUM ('low', 'medium', 'high', 'urgent');

ALTER TABLE issues ADD COLUMN priority issue_priority NOT NULL DEFAULT 'medium';
