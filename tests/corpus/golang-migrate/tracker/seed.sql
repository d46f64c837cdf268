-- Rows for the tracker app at the state of its applied migrations (000001, 000002):
-- 250 users, 30 projects, 2500 issues (every fourth assigned), 5000 comments. Deterministic.
INSERT INTO users (email, name, created_at)
SELECT 'member' || g || '@tracker.example', 'Member ' || g, TIMESTAMPTZ '2024-01-05 00:00+00' + g * INTERVAL '5 minutes'
FROM generate_series(1, 250) AS g;

INSERT INTO projects (owner_id, name, created_at)
SELECT g * 11 % 250 + 1, 'Board ' || g, TIMESTAMPTZ '2024-01-06 00:00+00' + g * INTERVAL '2 hours'
FROM generate_series(1, 30) AS g;

INSERT INTO issues (project_id, author_id, assignee_id, title, body, status, created_at, updated_at)
SELECT g % 30 + 1, g * 7 % 250 + 1, CASE WHEN g % 4 = 0 THEN g * 19 % 250 + 1 END,
       'Ticket ' || g || ' ' || md5(g::text), 'Expected, actual: ' || g,
       (ARRAY['open', 'in_progress', 'closed'])[g % 3 + 1],
       TIMESTAMPTZ '2024-01-10 00:00+00' + g * INTERVAL '4 minutes',
       TIMESTAMPTZ '2024-01-10 00:00+00' + g * INTERVAL '5 minutes'
FROM generate_series(1, 2500) AS g;

INSERT INTO comments (issue_id, author_id, body, created_at)
SELECT g % 2500 + 1, g * 29 % 250 + 1, 'Reply ' || g, TIMESTAMPTZ '2024-02-11 00:00+00' + g * INTERVAL '2 minutes'
FROM generate_series(1, 5000) AS g;

ANALYZE;
