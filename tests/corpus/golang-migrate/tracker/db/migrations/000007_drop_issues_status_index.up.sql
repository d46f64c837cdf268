DROP INDEX IF EXISTS issues_project_id_status_idx;
