ALTER TABLE issues RENAME COLUMN body TO description;
