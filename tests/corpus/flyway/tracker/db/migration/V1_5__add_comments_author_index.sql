-- Flyway runs this migration outside a transaction: it detects CONCURRENTLY itself.
CREATE INDEX CONCURRENTLY comments_author_id_idx ON comments (author_id);
