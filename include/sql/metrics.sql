-- The watch window's default metrics. Each returns one number, or for a ratio two cumulative
-- counters (numerator, denominator) whose deltas over an interval give the ratio.

-- name: query_time
-- Cumulative execution time (ms) and calls of one statement (pg_stat_statements).
SELECT coalesce(sum(total_exec_time), 0), coalesce(sum(calls), 0)
  FROM pg_stat_statements
 WHERE queryid = %(queryid)s AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database());

-- name: rollback_ratio
SELECT xact_rollback, xact_commit + xact_rollback
  FROM pg_stat_database WHERE datname = current_database();

-- name: deadlocks
SELECT deadlocks FROM pg_stat_database WHERE datname = current_database();

-- name: lock_waits
-- Sessions of this database waiting on a lock for more than a second right now.
SELECT count(*)
  FROM pg_stat_activity
 WHERE datname = current_database() AND wait_event_type = 'Lock'
   AND now() - state_change > interval '1 second' AND pid <> pg_backend_pid();

-- name: invalid_indexes
SELECT count(*)
  FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
 WHERE NOT (i.indisvalid AND i.indisready) AND t.relname = ANY(%(tables)s) AND pg_table_is_visible(t.oid);

-- name: index_scans
SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes WHERE indexrelname = %(index)s;

-- name: dead_tuple_pct
SELECT coalesce(round(100.0 * n_dead_tup / nullif(n_live_tup + n_dead_tup, 0), 2), 0)
  FROM pg_stat_user_tables WHERE relname = %(table)s;

-- name: query_work
-- Cumulative time (ms), calls, shared blocks (hit + read) and rows of one statement: the deltas
-- give time, pages and rows per call over an interval (gonogo.judge). Top-level calls only, what
-- clients sent (as gonogo.discover ranks them): with pg_stat_statements.track = all, the watch's
-- own EXPLAIN of the statement, each poll, is a nested call of it that ran nothing. (A query
-- metric needs EXPLAIN VERBOSE's query id, PostgreSQL 14+: the toplevel column is there.)
SELECT coalesce(sum(total_exec_time), 0), coalesce(sum(calls), 0),
       coalesce(sum(shared_blks_hit + shared_blks_read), 0), coalesce(sum(rows), 0)
  FROM pg_stat_statements
 WHERE queryid = %(queryid)s AND toplevel
   AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database());

-- name: control_probe
-- A control that touches no table: CPU work only, so its time says how busy the machine is.
SELECT sum(i) FROM generate_series(1, 30000) AS i;
