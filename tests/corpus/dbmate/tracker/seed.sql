-- Rows for the tracker app at the state of its applied migrations (the first two):
-- 300 users, 40 projects, 3000 issues (one in three assigned), 6000 comments. Deterministic.
insert into users (email, name, created_at)
select 'user' || g || '@tracker.example', 'User ' || g, timestamptz '2024-01-05 00:00+00' + g * interval '7 minutes'
  from generate_series(1, 300) g;

insert into projects (owner_id, name, created_at)
select g * 7 % 300 + 1, 'Project ' || g, timestamptz '2024-01-06 00:00+00' + g * interval '1 hour'
  from generate_series(1, 40) g;

insert into issues (project_id, author_id, assignee_id, title, body, status, created_at, updated_at)
select g % 40 + 1, g * 13 % 300 + 1, case when g % 3 = 0 then g * 17 % 300 + 1 end,
       'Issue ' || g || ': ' || md5(g::text), repeat('Steps to reproduce ' || g || '. ', 1 + g % 4),
       (array['open', 'in_progress', 'closed'])[g % 3 + 1],
       timestamptz '2024-01-10 00:00+00' + g * interval '3 minutes',
       timestamptz '2024-01-10 00:00+00' + g * interval '4 minutes'
  from generate_series(1, 3000) g;

insert into comments (issue_id, author_id, body, created_at)
select g % 3000 + 1, g * 31 % 300 + 1, 'Comment ' || g, timestamptz '2024-02-11 00:00+00' + g * interval '1 minute'
  from generate_series(1, 6000) g;

analyze;
