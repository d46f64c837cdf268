-- Alembic's history (gonogo.tools.alembic): alembic_version holds one row per current head.
-- gonogo only reads it; the SQL Alembic generates for each revision writes it.

-- name: alembic_version_table
-- The table Alembic would use: alembic_version in the session's search_path (env.py default).
SELECT to_regclass('alembic_version');

-- name: alembic_applied
SELECT version_num FROM alembic_version ORDER BY version_num;
