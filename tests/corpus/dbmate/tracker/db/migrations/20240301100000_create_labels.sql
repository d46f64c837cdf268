-- migrate:up
create table labels (
  id bigserial primary key,
  project_id bigint not null references projects (id) on delete cascade,
  name text not null,
  color text not null default '#888888'
);

create unique index labels_project_id_name_key on labels (project_id, name);

create table issue_labels (
  issue_id bigint not null references issues (id) on delete cascade,
  label_id bigint not null references labels (id) on delete cascade,
  primary key (issue_id, label_id)
);

-- migrate:down

