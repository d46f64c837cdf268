-- migrate:up
create table users (
  id bigserial primary key,
  email text not null,
  name text not null,
  created_at timestamptz not null default now()
);

create unique index users_email_key on users (email);

create table projects (
  id bigserial primary key,
  owner_id bigint not null references users (id),
  name text not null,
  created_at timestamptz not null default now()
);

create table issues (
  id bigserial primary key,
  project_id bigint not null references projects (id),
  author_id bigint not null references users (id),
  assignee_id bigint,
  title text not null,
  body text,
  status text not null default 'open',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create index issues_project_id_status_idx on issues (project_id, status);

-- migrate:down
drop table issues;
drop table projects;
drop table users;
