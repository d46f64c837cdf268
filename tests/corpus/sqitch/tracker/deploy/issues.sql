-- Deploy tracker:issues to pg
-- requires: projects
-- requires: users

BEGIN;

CREATE TABLE issues (
    id          BIGSERIAL PRIMARY KEY,
    project_id  BIGINT      NOT NULL REFERENCES projects (id),
    author_id   BIGINT      NOT NULL REFERENCES users (id),
    title       TEXT        NOT NULL,
    body        TEXT,
    status      TEXT        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'closed')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX issues_project_id_status_idx ON issues (project_id, status);

COMMIT;
