-- Samples of production's query metrics, taken by the gonogo_sample DAG ahead of any rollout
-- (gonogo.samples); the tables are created with gonogo's history (history.sql: create).

-- name: statements_work
-- The watch's query_work (metrics.sql) for many statements at once: cumulative time (ms), calls,
-- shared blocks (hit + read) and rows of each, summed over the roles that ran it.
SELECT queryid, coalesce(sum(total_exec_time), 0), coalesce(sum(calls), 0),
       coalesce(sum(shared_blks_hit + shared_blks_read), 0), coalesce(sum(rows), 0)
  FROM pg_stat_statements
 WHERE queryid = ANY(%(queryids)s) AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
 GROUP BY queryid;

-- name: insert_sample
INSERT INTO gonogo.samples (at, since, probe_ms) VALUES (%(at)s, %(since)s, %(probe_ms)s) RETURNING id;

-- name: insert_statement
INSERT INTO gonogo.sample_statements (sample_id, queryid, total_ms, calls, pages, rows)
VALUES (%(sample_id)s, %(queryid)s, %(total_ms)s, %(calls)s, %(pages)s, %(rows)s);

-- name: prune
-- Retention: samples older than %(oldest)s, and all but the newest %(keep)s (their statements
-- go with them: ON DELETE CASCADE).
DELETE FROM gonogo.samples
 WHERE at < %(oldest)s
    OR id IN (SELECT id FROM gonogo.samples ORDER BY at DESC, id DESC OFFSET %(keep)s);

-- name: exists
SELECT to_regclass('gonogo.sample_statements') IS NOT NULL;

-- name: between
-- The samples taken from %(start)s to %(end)s, oldest first, each with the counters of the
-- statements asked for (none: a row of NULLs, the probe alone).
SELECT s.at, s.since, s.probe_ms, q.queryid, q.total_ms, q.calls, q.pages, q.rows
  FROM gonogo.samples s
  LEFT JOIN gonogo.sample_statements q ON q.sample_id = s.id AND q.queryid = ANY(%(queryids)s)
 WHERE s.at BETWEEN %(start)s AND %(end)s
 ORDER BY s.at, s.id, q.queryid;

-- name: count
SELECT count(*), min(at), max(at) FROM gonogo.samples;
