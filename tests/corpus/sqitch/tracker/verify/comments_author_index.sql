-- Verify tracker:comments_author_index on pg

BEGIN;

SELECT 1 / count(*)
  FROM pg_catalog.pg_index
 WHERE indexrelid = 'comments_author_id_idx'::regclass
   AND indisvalid;

ROLLBACK;
