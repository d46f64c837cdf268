-- migrate:up
-- assignee_id has been there since the first migration; the users table too.
alter table issues
  add constraint issues_assignee_id_fkey foreign key (assignee_id) references users (id);

-- migrate:down
alter table issues drop constraint issues_assignee_id_fkey;
