-- Observability snapshot (seed section 5: "Capture key metrics"). Each query is named and
-- run on its own; gonogo keeps the results with the run's artifacts.

-- name: top_queries_by_latency
-- Top 10 statements by mean execution time (needs the pg_stat_statements extension).
SELECT queryid,
       calls,
       round(mean_exec_time::numeric, 3)  AS mean_ms,
       round(total_exec_time::numeric, 1) AS total_ms,
       rows,
       left(regexp_replace(query, '\s+', ' ', 'g'), 200) AS query
  FROM pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND calls > 0
 ORDER BY mean_exec_time DESC
 LIMIT 10;

-- name: table_bloat
-- Dead-tuple share per table: a cheap, catalog-only bloat estimate.
SELECT relname AS table_name,
       n_live_tup,
       n_dead_tup,
       round(100.0 * n_dead_tup / nullif(n_live_tup + n_dead_tup, 0), 1) AS dead_pct,
       pg_total_relation_size(relid) AS total_bytes,
       last_autovacuum,
       last_vacuum
  FROM pg_stat_user_tables
 ORDER BY n_dead_tup DESC, relname;

-- name: sequential_scans
-- Tables read by sequential scan, most rows read first: candidates for an index.
SELECT relname AS table_name,
       seq_scan,
       seq_tup_read,
       idx_scan,
       n_live_tup
  FROM pg_stat_user_tables
 ORDER BY seq_tup_read DESC, relname;

-- name: long_running_transactions
-- Transactions open for more than a minute: they hold back vacuum and CREATE INDEX CONCURRENTLY.
SELECT pid,
       xact_start,
       usename,
       application_name,
       state,
       now() - xact_start AS xact_age,
       wait_event_type,
       left(query, 200) AS query
  FROM pg_stat_activity
 WHERE xact_start IS NOT NULL
   AND now() - xact_start > interval '1 minute'
   AND pid <> pg_backend_pid()
 ORDER BY xact_start;
