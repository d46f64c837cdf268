ALTER TABLE issues DROP COLUMN IF EXISTS comment_count;
