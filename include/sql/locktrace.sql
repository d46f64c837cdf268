-- The lock trace (gonogo.locktrace): which locks a migration's statement holds, which
-- relations it rewrote, and which app queries wait for a lock meanwhile.
-- System catalogs and TOAST tables are left out: every statement reads the catalog, and a
-- table's TOAST table is locked and rewritten with the table.

-- name: backend_locks
-- The relation locks one backend holds in this database. A relation the reader cannot see
-- (dropped meanwhile) comes back unnamed or as its oid: the caller names it from the
-- relations it read before.
SELECT l.relation::bigint AS oid,
       CASE WHEN c.oid IS NOT NULL THEN c.oid::regclass::text END AS relation,
       l.mode,
       l.locktype
  FROM pg_locks AS l
  LEFT JOIN pg_class AS c ON c.oid = l.relation
  LEFT JOIN pg_namespace AS n ON n.oid = c.relnamespace
 WHERE l.pid = %(pid)s
   AND l.granted
   AND l.locktype = 'relation'
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND (n.nspname IS NULL
        OR (n.nspname NOT IN ('pg_catalog', 'information_schema') AND NOT starts_with(n.nspname, 'pg_toast')))
 ORDER BY l.relation, l.mode;

-- name: relations
-- Every user relation with its storage: a relfilenode that changes means the relation was
-- rewritten (ALTER COLUMN TYPE, VACUUM FULL, CLUSTER, TRUNCATE, REINDEX).
SELECT c.oid::bigint AS oid,
       c.oid::regclass::text AS relation,
       c.relkind::text AS relkind,
       c.relfilenode::bigint AS relfilenode
  FROM pg_class AS c
  JOIN pg_namespace AS n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND NOT starts_with(n.nspname, 'pg_toast');

-- name: lock_waits
-- Locks the watched backends wait for, with who blocks them and what those are running.
-- waitstart (PostgreSQL 14+) is when the wait began; it can be NULL for a moment after.
SELECT l.pid,
       a.application_name,
       l.locktype,
       l.mode,
       CASE WHEN l.locktype = 'relation' THEN coalesce(l.relation::regclass::text, l.relation::text)
            ELSE l.locktype END AS relation,
       l.waitstart,
       clock_timestamp() AS seen,
       left(a.query, 300) AS query,
       coalesce((SELECT json_agg(json_build_object('pid', b.pid, 'application', b.application_name,
                                                   'query', left(b.query, 300)) ORDER BY b.pid)
                   FROM pg_stat_activity AS b
                  WHERE b.pid = ANY (pg_blocking_pids(l.pid))), '[]'::json) AS blockers
  FROM pg_locks AS l
  JOIN pg_stat_activity AS a ON a.pid = l.pid
 WHERE NOT l.granted
   AND l.pid = ANY (%(pids)s);

-- name: foreign_keys
-- Every foreign key between user tables: a statement that adds or drops one locks the
-- referenced table too (ADD: SHARE ROW EXCLUSIVE, DROP: ACCESS EXCLUSIVE, on PostgreSQL 15),
-- so the trace names that table's lock as the referenced table's.
SELECT con.conname AS name,
       con.conrelid::bigint AS referencing,
       con.confrelid::bigint AS referenced
  FROM pg_constraint AS con
  JOIN pg_class AS c ON c.oid = con.conrelid
  JOIN pg_namespace AS n ON n.oid = c.relnamespace
 WHERE con.contype = 'f'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema');

-- name: resolve
-- A table named in a statement (quoted as the statement would name it), as the session
-- resolves it now; NULL when it does not exist.
SELECT c.oid::bigint AS oid, c.oid::regclass::text AS relation
  FROM pg_class AS c
 WHERE c.oid = to_regclass(%(name)s);

-- name: rows_written
-- Rows this database's sessions have updated, deleted and inserted in each table since the
-- statistics were reset: the shared counters plus this backend's own counts not flushed to
-- them yet. A flush moves counts from one to the other, so the sum read before and after a DO
-- block that commits (its row count is not reported) is what the block wrote — plus whatever
-- other sessions wrote to the same table meanwhile.
SELECT s.relid::bigint AS oid,
       s.n_tup_upd + pg_stat_get_xact_tuples_updated(s.relid) AS updated,
       s.n_tup_del + pg_stat_get_xact_tuples_deleted(s.relid) AS deleted,
       s.n_tup_ins + pg_stat_get_xact_tuples_inserted(s.relid) AS inserted
  FROM pg_stat_user_tables AS s
 WHERE s.relid = ANY (%(oids)s);

-- name: rows_up_to
-- The table's rows, counted up to a limit: the trace only needs to know whether the table
-- held fewer than rows-written ÷ threshold rows, so the count costs at most about as many
-- rows as the statement itself wrote. The table is an identifier (psycopg.sql), with ONLY when
-- the statement named it with ONLY.
SELECT count(*) FROM (SELECT FROM {table} LIMIT %(limit)s) AS t;
