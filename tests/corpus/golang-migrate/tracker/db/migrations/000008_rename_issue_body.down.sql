ALTER TABLE issues RENAME COLUMN description TO body;
