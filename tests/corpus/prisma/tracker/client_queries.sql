-- What the tracker app's Prisma Client sends most (the shape Prisma Client generates: every
-- column qualified, parameters as $n). The tests' app client runs these with values of its own.

-- name: issues_of_project
SELECT "public"."Issue"."id", "public"."Issue"."projectId", "public"."Issue"."authorId", "public"."Issue"."title",
       "public"."Issue"."status", "public"."Issue"."createdAt", "public"."Issue"."updatedAt"
  FROM "public"."Issue"
 WHERE ("public"."Issue"."projectId" = %(project)s AND "public"."Issue"."status" = %(status)s)
 ORDER BY "public"."Issue"."createdAt" DESC LIMIT %(limit)s OFFSET %(offset)s;

-- name: issue_by_id
SELECT "public"."Issue"."id", "public"."Issue"."title", "public"."Issue"."body", "public"."Issue"."status"
  FROM "public"."Issue" WHERE ("public"."Issue"."id" = %(issue)s AND 1=1) LIMIT %(one)s OFFSET %(zero)s;

-- name: comments_of_issue
SELECT "public"."Comment"."id", "public"."Comment"."issueId", "public"."Comment"."authorId", "public"."Comment"."body",
       "public"."Comment"."createdAt"
  FROM "public"."Comment" WHERE "public"."Comment"."issueId" IN (%(issue)s) OFFSET %(zero)s;

-- name: user_by_email
SELECT "public"."User"."id", "public"."User"."email", "public"."User"."name", "public"."User"."role"
  FROM "public"."User" WHERE ("public"."User"."email" = %(email)s AND 1=1) LIMIT %(one)s OFFSET %(zero)s;

-- name: touch_issue
UPDATE "public"."Issue" SET "updatedAt" = %(now)s WHERE ("public"."Issue"."id" = %(issue)s AND 1=1);
