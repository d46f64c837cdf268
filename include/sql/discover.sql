-- The app's top queries found, not written (gonogo.discover): production's pg_stat_statements
-- ranks them, the staging copy gives them real parameter values.
-- {placeholders} are identifiers or SQL composed with psycopg.sql; %(values)s are bound.

-- name: statements_view
-- Where pg_stat_statements is installed in this database, and what its version offers:
-- pg_stat_statements_info and the toplevel column came with PostgreSQL 14.
SELECT n.nspname,
       to_regclass(format('%I.pg_stat_statements_info', n.nspname)) IS NOT NULL AS has_info,
       EXISTS (SELECT FROM pg_attribute a
                WHERE a.attrelid = to_regclass(format('%I.pg_stat_statements', n.nspname))
                  AND a.attname = 'toplevel') AS has_toplevel
  FROM pg_extension e
  JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'pg_stat_statements';

-- name: stats_reset
-- Since when pg_stat_statements counts (its last reset), and how many seconds ago that was.
SELECT stats_reset, extract(epoch FROM clock_timestamp() - stats_reset)::float8
  FROM {info};

-- name: server_start
-- Before PostgreSQL 14 there is no reset time: the server's start is the earliest it can be.
SELECT pg_postmaster_start_time(), extract(epoch FROM clock_timestamp() - pg_postmaster_start_time())::float8;

-- name: ranked_statements
-- The current database's statements, most total execution time first, summed over the roles
-- that ran them. {toplevel}: only what clients sent, not the statements inside functions.
SELECT queryid,
       min(query) AS query,
       sum(calls)::bigint AS calls,
       sum(total_exec_time)::float8 AS total_ms,
       sum(rows)::bigint AS rows
  FROM {statements}
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND {toplevel}
   AND calls > 0
 GROUP BY queryid
 ORDER BY total_ms DESC, queryid
 LIMIT %(scan)s;

-- name: relations
-- The tables statements name, resolved as this session resolves them: in the schema given, or
-- the first schema of its search_path that has one (to_regclass would raise where the role may
-- not use a schema). is_app: not in a system schema, not migration history (gonogo's, the
-- migration tool's: %(history_schemas)s, %(history_tables)s as schema.table), not a sequence
-- (the app reads one through nextval(); SELECT last_value is pg_dump, gonogo's snapshot), not
-- temporary, not an extension's (pg_stat_statements' own views); a name that resolves to
-- nothing (another session's temporary table, a table dropped since) is not the app's either.
SELECT r.schema, r.name, c.oid, c.nspname,
       coalesce(c.nspname NOT IN ('pg_catalog', 'information_schema')
                AND c.nspname <> ALL (%(history_schemas)s::text[])
                AND format('%%s.%%s', c.nspname, r.name) <> ALL (%(history_tables)s::text[])
                AND c.relkind <> 'S'
                AND c.relpersistence <> 't'
                AND NOT EXISTS (SELECT FROM pg_depend d
                                 WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                   AND d.deptype = 'e'), false) AS is_app
  FROM unnest(%(schemas)s::text[], %(names)s::text[]) AS r(schema, name)
  LEFT JOIN LATERAL (
        SELECT c.oid, c.relpersistence, c.relkind, n.nspname
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relname = r.name
           AND (n.nspname = r.schema OR (r.schema IS NULL AND n.nspname = ANY (current_schemas(true))))
         ORDER BY array_position(current_schemas(true), n.nspname::text)
         LIMIT 1) AS c ON true;

-- name: table_columns
-- One table's columns in table order, whether each is unique on its own (an INSERT needs a
-- new value there), and the table's pages (to size a sample).
SELECT a.attname,
       EXISTS (SELECT FROM pg_index i
                WHERE i.indrelid = c.oid AND i.indisunique AND i.indnkeyatts = 1
                  AND i.indkey[0] = a.attnum) AS unique_alone,
       c.relpages
  FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.oid = %(oid)s
 ORDER BY a.attnum;

-- name: sample_rows
-- Rows of a few pages of one table a statement reads, for parameter values that exist.
-- TABLESAMPLE SYSTEM reads only the sampled pages, never the whole table (no ORDER BY
-- random()); REPEATABLE gives the same rows from the same copy. {values}: the columns or expressions
-- the statement's parameters stand against, over the statement's own alias; {present}:
-- those that must not be NULL (a comparison with NULL matches nothing).
SELECT {values}
  FROM {table} AS {alias} TABLESAMPLE SYSTEM (%(percent)s) REPEATABLE (%(seed)s)
 WHERE {present}
 LIMIT %(rows)s;

-- name: column_max
-- The highest value of a unique column (read from its index), for a new one to insert.
SELECT max({column}) FROM {table};

-- name: prepare
-- The server's own inference of each parameter's type, for a $n that stands against no column.
PREPARE {name} AS {statement};

-- name: parameter_types
SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = %(name)s;

-- name: deallocate
DEALLOCATE {name};

-- name: trial_timeout
-- Each trial run of a discovered query on staging gets this long (this transaction only).
SELECT set_config('statement_timeout', %(timeout)s, true);
