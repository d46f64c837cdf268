-- Revert tracker:comments_author_index from pg

DROP INDEX CONCURRENTLY comments_author_id_idx;
