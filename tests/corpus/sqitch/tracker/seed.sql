-- Rows for the tracker app at v1.0 (users, projects, issues deployed):
-- 500 users, 60 projects, 4000 issues. Deterministic (no random()).
INSERT INTO users (email, name, role, created_at)
SELECT 'user' || g || '@tracker.example', 'User ' || g,
       CASE WHEN g % 50 = 0 THEN 'admin'::user_role ELSE 'member'::user_role END,
       timestamptz '2024-01-05 00:00+00' + g * interval '7 minutes'
  FROM generate_series(1, 500) g;

INSERT INTO projects (name, owner_id, created_at)
SELECT 'Project ' || g, g * 7 % 500 + 1, timestamptz '2024-01-06 00:00+00' + g * interval '1 hour'
  FROM generate_series(1, 60) g;

INSERT INTO issues (project_id, author_id, title, body, status, created_at, updated_at)
SELECT g % 60 + 1, g * 13 % 500 + 1, 'Issue ' || g || ': ' || md5(g::text),
       repeat('Steps to reproduce ' || g || '. ', 1 + g % 5),
       (ARRAY['open', 'in_progress', 'closed'])[g % 3 + 1],
       timestamptz '2024-01-10 00:00+00' + g * interval '3 minutes',
       timestamptz '2024-01-10 00:00+00' + g * interval '4 minutes'
  FROM generate_series(1, 4000) g;

ANALYZE;
