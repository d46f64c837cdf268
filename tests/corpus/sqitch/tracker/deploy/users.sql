-- Deploy tracker:users to pg

BEGIN;

CREATE TYPE user_role AS ENUM ('admin', 'member');

CREATE TABLE users (
    id          BIGSERIAL PRIMARY KEY,
    email       TEXT        NOT NULL UNIQUE,
    name        TEXT,
    role        user_role   NOT NULL DEFAULT 'member',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

COMMIT;
