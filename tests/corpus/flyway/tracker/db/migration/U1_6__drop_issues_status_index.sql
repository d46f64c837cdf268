CREATE INDEX issues_project_id_status_idx ON issues (project_id, status);
