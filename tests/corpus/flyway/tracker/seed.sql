-- Rows for the tracker app at the state of its applied migrations (V1, V1_1):
-- 400 users, 50 projects, 4000 issues (every fifth assigned), 8000 comments. Deterministic.
INSERT INTO users (email, name, created_at)
SELECT 'dev' || g || '@tracker.example', 'Developer ' || g, TIMESTAMP '2024-01-05' + g * INTERVAL '6 minutes'
  FROM generate_series(1, 400) g;

INSERT INTO projects (owner_id, name, created_at)
SELECT g * 9 % 400 + 1, 'Team ' || g, TIMESTAMP '2024-01-06' + g * INTERVAL '1 hour'
  FROM generate_series(1, 50) g;

INSERT INTO issues (project_id, author_id, assignee_id, title, body, status, created_at, updated_at)
SELECT g % 50 + 1, g * 13 % 400 + 1, CASE WHEN g % 5 = 0 THEN g * 23 % 400 + 1 END,
       'Bug ' || g || ': ' || md5(g::text), 'Seen on build ' || g,
       (ARRAY['OPEN', 'IN_PROGRESS', 'DONE'])[g % 3 + 1],
       TIMESTAMP '2024-01-10' + g * INTERVAL '3 minutes', TIMESTAMP '2024-01-10' + g * INTERVAL '4 minutes'
  FROM generate_series(1, 4000) g;

INSERT INTO comments (issue_id, author_id, body, created_at)
SELECT g % 4000 + 1, g * 37 % 400 + 1, 'Note ' || g, TIMESTAMP '2024-02-11' + g * INTERVAL '1 minute'
  FROM generate_series(1, 8000) g;

ANALYZE;
