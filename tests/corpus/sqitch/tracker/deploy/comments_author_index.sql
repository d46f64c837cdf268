-- Deploy tracker:comments_author_index to pg
-- requires: comments

-- No BEGIN/COMMIT: CREATE INDEX CONCURRENTLY cannot run inside a transaction block.
CREATE INDEX CONCURRENTLY comments_author_id_idx ON comments (author_id);
