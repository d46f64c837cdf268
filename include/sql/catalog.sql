-- The live schema, read from the catalog, as one line per object. Two databases have
-- the same schema when these lines are equal; a difference reads as a diff.
-- System schemas, gonogo's own bookkeeping schema and objects that belong to an extension
-- (pg_stat_statements' views, say) are left out: the extension line stands for them.

-- name: schema_objects
-- %(schemas)s and %(tables)s ('schema.table'): migration history (gonogo's, the tool's), not the
-- app's schema; an index, constraint or trigger of such a table goes with it.
WITH rels AS (
    SELECT c.oid, c.relname, c.relkind, n.nspname
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname <> ALL(%(schemas)s)
       AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%'
       AND format('%%s.%%s', n.nspname, c.relname) <> ALL(%(tables)s)
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
       AND NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
                         JOIN pg_namespace tn ON tn.oid = t.relnamespace
                        WHERE i.indexrelid = c.oid
                          AND (format('%%s.%%s', tn.nspname, t.relname) = ANY(%(tables)s) OR tn.nspname = ANY(%(schemas)s)))
       AND NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
                         JOIN pg_namespace tn ON tn.oid = t.relnamespace
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'a'
                          AND c.relkind = 'S' AND format('%%s.%%s', tn.nspname, t.relname) = ANY(%(tables)s))
)
SELECT 'table' AS kind, format('%%I.%%I', nspname, relname) AS object, relkind::text AS definition
  FROM rels WHERE relkind IN ('r', 'p', 'v', 'm', 'f')
UNION ALL
SELECT 'sequence', format('%%I.%%I', nspname, relname), ''
  FROM rels WHERE relkind = 'S'
UNION ALL
SELECT 'column', format('%%I.%%I.%%I', r.nspname, r.relname, a.attname),
       format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
       || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
  FROM rels r
  JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f')
UNION ALL
SELECT 'constraint', format('%%I.%%I.%%I', r.nspname, r.relname, con.conname),
       pg_get_constraintdef(con.oid)
       || CASE WHEN con.convalidated THEN '' ELSE ' [NOT VALID]' END
  FROM pg_constraint con JOIN rels r ON r.oid = con.conrelid
UNION ALL
SELECT 'index', format('%%I.%%I', r.nspname, r.relname),
       pg_get_indexdef(i.indexrelid)
       || CASE WHEN i.indisvalid THEN '' ELSE ' [INVALID]' END
  FROM pg_index i JOIN rels r ON r.oid = i.indexrelid
UNION ALL
SELECT 'trigger', format('%%I.%%I.%%I', r.nspname, r.relname, t.tgname),
       pg_get_triggerdef(t.oid)
       || CASE t.tgenabled WHEN 'D' THEN ' [DISABLED]' ELSE '' END
  FROM pg_trigger t JOIN rels r ON r.oid = t.tgrelid
 WHERE NOT t.tgisinternal
UNION ALL
SELECT 'function', format('%%I.%%I(%%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       md5(pg_get_functiondef(p.oid))
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname <> ALL(%(schemas)s)
   AND p.prokind IN ('f', 'p')
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
UNION ALL
SELECT 'type', format('%%I.%%I', n.nspname, t.typname),
       CASE t.typtype
            WHEN 'e' THEN 'ENUM (' || (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                                         FROM pg_enum e WHERE e.enumtypid = t.oid) || ')'
            WHEN 'd' THEN 'DOMAIN ' || format_type(t.typbasetype, t.typtypmod)
                          || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
            ELSE 'COMPOSITE' END
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname <> ALL(%(schemas)s)
   AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%'
   AND (t.typtype IN ('e', 'd')
        OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
UNION ALL
SELECT 'extension', extname, extversion
  FROM pg_extension
 WHERE extname <> 'plpgsql'
ORDER BY 1, 2;

-- name: user_tables
SELECT n.nspname AS schema, c.relname AS name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'gonogo')
   AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
 ORDER BY 1, 2;

-- name: existing_tables
SELECT c.relname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND c.relname = ANY(%(names)s)
   AND n.nspname = ANY(current_schemas(false));

-- name: object_states
-- State of the objects a step creates: exists, valid (indexes: indisvalid AND indisready;
-- constraints: convalidated). kind/name/table arrays line up.
SELECT w.kind, w.name, w.tbl,
       CASE w.kind
         WHEN 'index' THEN (SELECT i.indisvalid AND i.indisready
                              FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                             WHERE c.relname = w.name AND pg_table_is_visible(c.oid))
         WHEN 'constraint' THEN (SELECT bool_and(con.convalidated)
                                   FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
                                  WHERE con.conname = w.name AND c.relname = w.tbl
                                    AND pg_table_is_visible(c.oid))
         WHEN 'trigger' THEN (SELECT bool_and(t.tgenabled <> 'D')
                                FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                               WHERE t.tgname = w.name AND c.relname = w.tbl
                                 AND pg_table_is_visible(c.oid))
         WHEN 'function' THEN (SELECT true FROM pg_proc p
                                WHERE p.proname = w.name AND pg_function_is_visible(p.oid) LIMIT 1)
         WHEN 'extension' THEN (SELECT true FROM pg_extension e WHERE e.extname = w.name)
       END AS valid
  FROM unnest(%(kinds)s::text[], %(names)s::text[], %(tables)s::text[]) AS w(kind, name, tbl);

-- name: invalid_objects
-- Anything left half-done on the given tables: invalid indexes, NOT VALID constraints.
SELECT 'index' AS kind, c.relname AS name, t.relname AS tbl
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_class t ON t.oid = i.indrelid
 WHERE NOT (i.indisvalid AND i.indisready) AND t.relname = ANY(%(tables)s) AND pg_table_is_visible(t.oid)
UNION ALL
SELECT 'constraint', con.conname, t.relname
  FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid
 WHERE NOT con.convalidated AND t.relname = ANY(%(tables)s) AND pg_table_is_visible(t.oid)
ORDER BY 1, 2;

-- name: server_version
SELECT current_setting('server_version_num')::int AS version_num,
       current_setting('server_version') AS version,
       version() AS full_version;

-- name: database_counters
SELECT xact_commit, xact_rollback, deadlocks
  FROM pg_stat_database WHERE datname = current_database();

-- name: lock_waiters
-- Sessions of this database waiting for a lock right now, and the longest wait.
SELECT count(*) AS waiting,
       coalesce(max(extract(epoch FROM now() - a.state_change)), 0) AS longest_seconds
  FROM pg_stat_activity a
 WHERE a.datname = current_database() AND a.wait_event_type = 'Lock' AND a.pid <> pg_backend_pid();

-- name: archiver_state
SELECT last_archived_wal, failed_count, last_failed_wal FROM pg_stat_archiver;

-- name: primary_key_columns
-- A table's primary key columns, to name example rows; none: ctid is used.
SELECT a.attname
  FROM pg_index i
  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
 WHERE i.indrelid = to_regclass(quote_ident(%(table)s)) AND i.indisprimary
 ORDER BY array_position(i.indkey, a.attnum);

-- name: extension_state
-- Is the extension installed, available on the server, trusted, and may this role create it?
SELECT e.extversion AS installed,
       a.default_version AS available,
       coalesce((SELECT bool_or(v.trusted) FROM pg_available_extension_versions v WHERE v.name = %(name)s), false) AS trusted,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
       has_database_privilege(current_database(), 'CREATE') AS can_create_in_database
  FROM (SELECT %(name)s::name AS name) n
  LEFT JOIN pg_extension e ON e.extname = n.name
  LEFT JOIN pg_available_extensions a ON a.name = n.name;

-- name: table_privileges
-- What the current role may do to a table; NULL columns: the table does not exist.
SELECT c.relname,
       pg_has_role(current_user, c.relowner, 'USAGE') AS own,
       has_table_privilege(c.oid, 'REFERENCES') AS "references",
       has_table_privilege(c.oid, 'SELECT') AS "select",
       has_table_privilege(c.oid, 'INSERT') AS "insert",
       has_table_privilege(c.oid, 'UPDATE') AS "update",
       has_table_privilege(c.oid, 'DELETE') AS "delete",
       has_table_privilege(c.oid, 'TRIGGER') AS "trigger",
       pg_get_userbyid(c.relowner) AS owner
  FROM pg_class c
 WHERE c.oid = to_regclass(quote_ident(%(table)s));

-- name: index_state
-- An index of the search path by name: its schema and whether it is valid and ready.
SELECT n.nspname, i.indisvalid AND i.indisready
  FROM pg_class c
  JOIN pg_index i ON i.indexrelid = c.oid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relname = %(name)s AND pg_table_is_visible(c.oid);

-- name: execute_privilege
-- May the current role call the function (signature as text, e.g. 'pg_switch_wal()')?
SELECT has_function_privilege(%(function)s, 'EXECUTE');

-- name: wal_archiving
-- Whether WAL is archived: only then does the restore point call pg_switch_wal().
SELECT current_setting('wal_level') IN ('replica', 'logical') AND current_setting('archive_mode') IN ('on', 'always');

-- name: schema_write_privileges
-- A schema the rollout writes its bookkeeping into: does it exist, may the role create it (CREATE
-- on the database), use and create in it (CREATE TABLE IF NOT EXISTS checks CREATE even when the
-- table exists), and which of its tables and sequences the role may not write.
SELECT n.oid IS NOT NULL AS present,
       has_database_privilege(current_database(), 'CREATE') AS may_create,
       n.oid IS NOT NULL AND has_schema_privilege(n.oid, 'USAGE') AND has_schema_privilege(n.oid, 'CREATE') AS usable,
       ARRAY(SELECT c.relname::text FROM pg_class c
              WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'S')
                AND NOT CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(c.oid, 'USAGE')
                             ELSE has_table_privilege(c.oid, 'SELECT') AND has_table_privilege(c.oid, 'INSERT')
                                  AND has_table_privilege(c.oid, 'UPDATE') AND has_table_privilege(c.oid, 'DELETE') END
              ORDER BY 1) AS unwritable
  FROM (SELECT %(schema)s::name AS nspname) s
  LEFT JOIN pg_namespace n USING (nspname);

-- name: table_write_privilege
-- May the role write the table ("schema.table") this way; NULL: no such table, and then may it
-- create it in its schema.
SELECT CASE WHEN to_regclass(%(table)s) IS NOT NULL THEN has_table_privilege(%(table)s, %(privilege)s) END,
       (SELECT has_schema_privilege(oid, 'CREATE') FROM pg_namespace WHERE nspname = %(schema)s);

-- name: quoted_names
-- The current role and database as a GRANT names them (quoted only where they must be).
SELECT quote_ident(current_user), quote_ident(current_database());

-- name: monitoring_state
-- shared_preload_libraries (NULL: hidden from a role without pg_read_all_settings), track_io_timing,
-- whether pg_stat_statements is created in this database.
SELECT (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'),
       current_setting('track_io_timing'),
       EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_stat_statements');

-- name: statements_hidden
-- Statements of other roles pg_stat_statements hides from this one (their queryid reads NULL
-- without pg_read_all_stats). Fails with SQLSTATE 55000 when the library is not preloaded.
SELECT count(*) FILTER (WHERE queryid IS NULL) FROM pg_stat_statements(false);
