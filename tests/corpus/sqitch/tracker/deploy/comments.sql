-- Deploy tracker:comments to pg
-- requires: issues

BEGIN;

CREATE TABLE comments (
    id          BIGSERIAL PRIMARY KEY,
    issue_id    BIGINT      NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    author_id   BIGINT      NOT NULL REFERENCES users (id),
    body        TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX comments_issue_id_idx ON comments (issue_id);

COMMIT;
