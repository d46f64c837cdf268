-- Rows for the tracker app at the state of its applied migrations (init, add_comments):
-- 500 users, 60 projects, 8000 issues, 20000 comments. Deterministic (no random()).
INSERT INTO "User" ("id", "email", "name", "role", "createdAt")
SELECT 'usr_' || lpad(g::text, 6, '0'), 'user' || g || '@tracker.example', 'User ' || g,
       CASE WHEN g % 50 = 0 THEN 'ADMIN'::"Role" ELSE 'MEMBER'::"Role" END,
       timestamp '2024-01-05' + g * interval '7 minutes'
  FROM generate_series(1, 500) g;

INSERT INTO "Project" ("name", "ownerId", "createdAt")
SELECT 'Project ' || g, 'usr_' || lpad((g * 7 % 500 + 1)::text, 6, '0'), timestamp '2024-01-06' + g * interval '1 hour'
  FROM generate_series(1, 60) g;

INSERT INTO "Issue" ("projectId", "authorId", "title", "body", "status", "createdAt", "updatedAt")
SELECT g % 60 + 1, 'usr_' || lpad((g * 13 % 500 + 1)::text, 6, '0'), 'Issue ' || g || ': ' || md5(g::text),
       repeat('Steps to reproduce ' || g || '. ', 1 + g % 5),
       (ARRAY['open', 'in_progress', 'closed'])[g % 3 + 1],
       timestamp '2024-01-10' + g * interval '3 minutes', timestamp '2024-01-10' + g * interval '4 minutes'
  FROM generate_series(1, 8000) g;

INSERT INTO "Comment" ("issueId", "authorId", "body", "createdAt")
SELECT g % 8000 + 1, 'usr_' || lpad((g * 31 % 500 + 1)::text, 6, '0'), 'Comment ' || g,
       timestamp '2024-02-11' + g * interval '1 minute'
  FROM generate_series(1, 20000) g;

ANALYZE;
