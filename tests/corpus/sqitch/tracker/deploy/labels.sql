-- Deploy tracker:labels to pg
-- requires: projects
-- requires: issues

BEGIN;

CREATE TABLE labels (
    id          BIGSERIAL PRIMARY KEY,
    project_id  BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        TEXT   NOT NULL,
    color       TEXT   NOT NULL DEFAULT '#888888',
    UNIQUE (project_id, name)
);

CREATE TABLE issue_labels (
    issue_id    BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    label_id    BIGINT NOT NULL REFERENCES labels (id) ON DELETE CASCADE,
    PRIMARY KEY (issue_id, label_id)
);

CREATE INDEX issue_labels_label_id_idx ON issue_labels (label_id);

COMMIT;
