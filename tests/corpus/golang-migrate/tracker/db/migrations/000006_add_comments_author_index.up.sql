CREATE INDEX CONCURRENTLY IF NOT EXISTS comments_author_id_idx ON comments (author_id);
