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
