-- gonogo's bookkeeping in each database it changes, in its own schema (left out of every
-- schema comparison): which step of which batch is applied, from which file (sha256), by
-- which run; an append-only audit trail of events; the progress of batched backfills; and the
-- samples of production's query metrics the watch window's baseline draws on.

-- name: create
CREATE SCHEMA IF NOT EXISTS gonogo;
CREATE TABLE IF NOT EXISTS gonogo.history (
    batch       text NOT NULL,
    step        text NOT NULL,
    sha256      text NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'applied', 'failed', 'rolled_back')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    run_id      text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (batch, step)
);
-- Every attempt of a step, one row each (gonogo.history keeps the step's latest state): an
-- attempt a crash left 'running' is marked 'crashed' by the one that resumes it (resumes).
CREATE TABLE IF NOT EXISTS gonogo.attempts (
    id          bigserial PRIMARY KEY,
    batch       text NOT NULL,
    step        text NOT NULL,
    run_id      text NOT NULL,
    sha256      text NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'applied', 'failed', 'rolled_back', 'crashed')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    resumes     bigint REFERENCES gonogo.attempts (id),
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS gonogo.events (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    run_id   text NOT NULL,
    batch    text NOT NULL,
    step     text,
    event    text NOT NULL,  -- one of set_events_check's
    username text,
    detail   jsonb NOT NULL DEFAULT '{}'
);
-- The rollout lock across a run's tasks: the one row names the run that holds this database, from
-- its production.take_rollout_lock (an Airflow setup) to its release_rollout_lock (the teardown);
-- each production session also holds the advisory lock for its own work (rollout_lock.exclusive).
CREATE TABLE IF NOT EXISTS gonogo.rollout_lease (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    run_id   text NOT NULL,
    batch    text NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS gonogo.backfill_progress (
    batch      text NOT NULL,
    step       text NOT NULL,
    last_key   bigint NOT NULL,
    upto_key   bigint NOT NULL,
    rows_done  bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (batch, step)
);
-- Production sampled ahead of any rollout by the gonogo_sample DAG (gonogo.samples): a sample is
-- the control probe's time and the cumulative counters of the app's top statements at one moment;
-- consecutive samples give the intervals of the same hours of the day before a watch window.
-- `since`: when pg_stat_statements started counting (its reset, or the server's start).
-- (No CREATE INDEX here: IF NOT EXISTS or not, it must own the table, and a login granted the
-- tables another role made may not. The UNIQUE (at, id) index serves the reads by time.)
CREATE TABLE IF NOT EXISTS gonogo.samples (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL,
    since    timestamptz,
    probe_ms float8,
    UNIQUE (at, id)
);
CREATE TABLE IF NOT EXISTS gonogo.sample_statements (
    sample_id bigint NOT NULL REFERENCES gonogo.samples (id) ON DELETE CASCADE,
    queryid   bigint NOT NULL,
    total_ms  float8 NOT NULL,
    calls     bigint NOT NULL,
    pages     bigint NOT NULL,
    rows      bigint NOT NULL,
    PRIMARY KEY (sample_id, queryid)
);

-- name: events_check
SELECT pg_get_constraintdef(oid) FROM pg_constraint
 WHERE conrelid = 'gonogo.events'::regclass AND conname = 'events_event_check';

-- name: set_events_check
-- The events gonogo records. Made when the table is, and again when a version of gonogo adds one
-- (which needs the table's owner; a database whose check already has them all is left alone).
ALTER TABLE gonogo.events DROP CONSTRAINT IF EXISTS events_event_check,
  ADD CONSTRAINT events_event_check CHECK (event IN (
      'apply', 'applied', 'skip', 'fail', 'rollback', 'rolled_back', 'approve', 'reject', 'restore_point',
      'backup', 'fix_forward', 'recover_index', 'backfill', 'watch_started', 'watch_passed',
      'watch_alarm', 'watch_inconclusive', 'orphan_ended', 'approval_not_counted', 'lock_taken', 'lock_released'));

-- name: steps
SELECT step, sha256, status, run_id, started_at, finished_at FROM gonogo.history WHERE batch = %(batch)s;

-- name: start_step
INSERT INTO gonogo.history (batch, step, sha256, status, run_id)
VALUES (%(batch)s, %(step)s, %(sha256)s, 'running', %(run_id)s)
ON CONFLICT (batch, step) DO UPDATE
   SET sha256 = EXCLUDED.sha256, status = 'running', run_id = EXCLUDED.run_id,
       started_at = now(), finished_at = NULL, detail = '{}';

-- name: start_attempt
-- A new attempt of the step; the one before it, if a crash left it running (or it failed), is
-- the one it resumes, and a running one is marked crashed.
WITH previous AS (
    SELECT id, status FROM gonogo.attempts
     WHERE batch = %(batch)s AND step = %(step)s ORDER BY id DESC LIMIT 1
), crashed AS (
    UPDATE gonogo.attempts a SET status = 'crashed', finished_at = now(),
           detail = a.detail || jsonb_build_object('resumed_by_run', %(run_id)s::text)
      FROM previous p WHERE a.id = p.id AND p.status = 'running'
)
INSERT INTO gonogo.attempts (batch, step, run_id, sha256, status, resumes)
SELECT %(batch)s, %(step)s, %(run_id)s, %(sha256)s, 'running',
       (SELECT id FROM previous WHERE status IN ('running', 'failed'))
RETURNING id, resumes;

-- name: end_attempt
-- The step's latest attempt: its status (and, once validated, when it ended and what it met).
UPDATE gonogo.attempts SET status = %(status)s,
       finished_at = CASE WHEN %(final)s THEN now() ELSE finished_at END,
       detail = CASE WHEN %(final)s THEN detail || %(detail)s::jsonb ELSE detail END
 WHERE id = (SELECT max(id) FROM gonogo.attempts WHERE batch = %(batch)s AND step = %(step)s);

-- name: attempts
SELECT id, step, run_id, sha256, status, started_at, finished_at, resumes, detail
  FROM gonogo.attempts WHERE batch = %(batch)s ORDER BY id;

-- name: finish_step
UPDATE gonogo.history
   SET status = %(status)s, finished_at = now(), detail = %(detail)s
 WHERE batch = %(batch)s AND step = %(step)s;

-- name: mark_step
UPDATE gonogo.history SET status = %(status)s WHERE batch = %(batch)s AND step = %(step)s;

-- name: record_event
INSERT INTO gonogo.events (run_id, batch, step, event, username, detail)
VALUES (%(run_id)s, %(batch)s, %(step)s, %(event)s, %(username)s, %(detail)s);

-- name: events
SELECT at, run_id, batch, step, event, username, detail FROM gonogo.events
 WHERE batch = %(batch)s ORDER BY id;

-- name: run_event
-- The first detail of one event of one run (a watch window a retried task resumes).
SELECT detail FROM gonogo.events
 WHERE batch = %(batch)s AND run_id = %(run_id)s AND event = %(event)s
 ORDER BY id LIMIT 1;

-- name: exists
SELECT to_regclass('gonogo.history') IS NOT NULL;

-- name: events_exist
-- Its own check: ensure() makes the tables one after the other, so gonogo.history can exist
-- while gonogo.events does not yet.
SELECT to_regclass('gonogo.events') IS NOT NULL;

-- name: applied_by
-- The steps a run applied, was applying or failed in, in the order it started them.
SELECT step FROM gonogo.history
 WHERE batch = %(batch)s AND run_id = %(run_id)s AND status IN ('running', 'applied', 'failed')
 ORDER BY started_at;

-- name: started_by
-- The steps a run started on this database, whatever became of them (rolled back included).
SELECT step FROM gonogo.events
 WHERE batch = %(batch)s AND run_id = %(run_id)s AND event = 'apply'
 GROUP BY step ORDER BY min(id);

-- name: rollout_lock_holder
-- Who holds gonogo's rollout lock on this database, and what it is doing.
SELECT a.pid, a.application_name, a.backend_start, a.client_addr, a.state, a.query_start,
       left(a.query, 200)
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND l.classid = %(classid)s AND l.objid = %(objid)s;

-- name: run_sessions
-- The sessions of one run on this database other than the caller's: its application_name prefix.
SELECT pid, application_name, backend_start, state, query_start, left(query, 200)
  FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
   AND starts_with(application_name, %(prefix)s)
 ORDER BY backend_start;

-- name: session_alive
SELECT count(*) > 0 FROM pg_stat_activity WHERE pid = %(pid)s;

-- name: run_ids
SELECT DISTINCT run_id FROM gonogo.events;

-- name: lease_exists
SELECT to_regclass('gonogo.rollout_lease') IS NOT NULL;

-- name: take_lease
INSERT INTO gonogo.rollout_lease (run_id, batch) VALUES (%(run_id)s, %(batch)s) ON CONFLICT (one) DO NOTHING;

-- name: lease
SELECT run_id, batch, taken_at FROM gonogo.rollout_lease;

-- name: release_lease
DELETE FROM gonogo.rollout_lease WHERE run_id = %(run_id)s RETURNING taken_at;
