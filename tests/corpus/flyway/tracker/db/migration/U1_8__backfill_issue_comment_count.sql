ALTER TABLE issues DROP COLUMN comment_count;
