CREATE TYPE issue_priority AS ENUM ('LOW', 'MEDIUM', 'HIGH', 'URGENT');

ALTER TABLE issues ADD COLUMN priority issue_priority NOT NULL DEFAULT 'MEDIUM';
