-- migrate:up
create table comments (
  id bigserial primary key,
  issue_id bigint not null references issues (id) on delete cascade,
  author_id bigint not null references users (id),
  body text not null,
  created_at timestamptz not null default now()
);

create index comments_issue_id_idx on comments (issue_id);

-- migrate:down
drop table comments;
