-- migrate:up
drop index issues_project_id_status_idx;

-- migrate:down
create index issues_project_id_status_idx on issues (project_id, status);
