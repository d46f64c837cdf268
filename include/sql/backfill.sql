-- Batched backfills (gonogo.backfill): progress in gonogo.backfill_progress, and the locked
-- checksums that prove a batch changed nothing but the column it fills in.
-- Identifiers are psycopg.sql placeholders in braces: {table}, {key} (its integer key) and {row}
-- (ROW(...) of every column of the table except the one the backfill sets). Values are bound
-- parameters. No percent sign or brace in a comment below a name line: it would be sent along.

-- name: columns
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
  FROM pg_attribute a
 WHERE a.attrelid = to_regclass(quote_ident(%(table)s)) AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum;

-- name: key_range
SELECT min({key}) - 1, max({key}) FROM {table};

-- name: rows_in_range
-- Rows of the range already walked and still to walk: the percentages in the log.
SELECT count(*) FILTER (WHERE {key} <= %(last_key)s), count(*) FILTER (WHERE {key} > %(last_key)s)
  FROM {table}
 WHERE {key} <= %(upto_key)s;

-- name: progress
SELECT last_key, upto_key, rows_done
  FROM gonogo.backfill_progress
 WHERE batch = %(batch)s AND step = %(step)s;

-- name: start
INSERT INTO gonogo.backfill_progress (batch, step, last_key, upto_key)
VALUES (%(batch)s, %(step)s, %(last_key)s, %(upto_key)s)
ON CONFLICT (batch, step) DO NOTHING;

-- name: claim
-- First statement of every batch: the progress row, locked until the batch commits, so that two
-- runs of the same backfill (a retried task beside its zombie) take turns instead of racing.
SELECT last_key, upto_key
  FROM gonogo.backfill_progress
 WHERE batch = %(batch)s AND step = %(step)s
   FOR UPDATE;

-- name: lock_batch
-- The next batch: up to batch_size rows after from_key, in key order, locked until the batch
-- commits. FOR NO KEY UPDATE is the lock the UPDATE itself takes: it keeps every other writer
-- off these rows, yet lets the app insert rows that reference them (FOR KEY SHARE).
-- Returns their count, the highest key, the checksum of their other columns and their keys.
SELECT count(*), max(b.key), md5(string_agg(b.row_text, E'\n' ORDER BY b.key)), array_agg(b.key ORDER BY b.key)
  FROM (SELECT {key} AS key, ({row})::text AS row_text
          FROM {table}
         WHERE {key} > %(from_key)s AND {key} <= %(upto_key)s
         ORDER BY {key}
         LIMIT %(batch_size)s
           FOR NO KEY UPDATE) AS b;

-- name: checksum
-- The same count and checksum, after the UPDATE, of the rows lock_batch locked (by key, so a row
-- the app committed into the range meanwhile is not counted as a change).
SELECT count(*), md5(string_agg(b.row_text, E'\n' ORDER BY b.key))
  FROM (SELECT {key} AS key, ({row})::text AS row_text
          FROM {table}
         WHERE {key} = ANY(%(keys)s)) AS b;

-- name: any_left
SELECT EXISTS (SELECT FROM {table} WHERE {key} > %(from_key)s AND {key} <= %(upto_key)s);

-- name: advance
UPDATE gonogo.backfill_progress
   SET last_key = %(last_key)s, rows_done = rows_done + %(rows)s, updated_at = now()
 WHERE batch = %(batch)s AND step = %(step)s;

-- name: forget
DELETE FROM gonogo.backfill_progress WHERE batch = %(batch)s AND step = %(step)s;

-- name: dead_tuples
-- Dead and live row versions of the backfilled table, as the cumulative statistics have them.
SELECT n_dead_tup, n_live_tup
  FROM pg_stat_user_tables
 WHERE relid = to_regclass(quote_ident(%(table)s));

-- name: vacuum
VACUUM (ANALYZE) {table};
