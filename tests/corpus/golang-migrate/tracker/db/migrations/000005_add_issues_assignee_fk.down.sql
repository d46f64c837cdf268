ALTER TABLE issues DROP CONSTRAINT IF EXISTS issues_assignee_id_fkey;
