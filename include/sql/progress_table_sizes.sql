-- Sizes for the per-table progress of a snapshot (gonogo.snapshot), read just before pg_dump.

-- name: table_sizes
-- "schema.table" (unquoted, as pg_dump --verbose names it) and the bytes of its data (heap and
-- TOAST, not its indexes: pg_dump reads rows and writes only index definitions) of every table
-- whose rows pg_dump dumps: ordinary tables and partitions, not partitioned parents (no rows of
-- their own), system schemas or extension members. pg_table_size takes ACCESS SHARE, as
-- pg_dump does a moment later: the session's lock_timeout bounds the wait.
SELECT n.nspname || '.' || c.relname AS name,
       pg_table_size(c.oid) AS bytes
  FROM pg_class AS c
  JOIN pg_namespace AS n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND NOT starts_with(n.nspname, 'pg_toast') AND NOT starts_with(n.nspname, 'pg_temp')
   AND NOT EXISTS (SELECT FROM pg_depend AS d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY 1;
