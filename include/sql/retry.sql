-- Lock safety (gonogo.retry): what blocks a migration's session while it waits for a lock.

-- name: autovacuum_blockers
-- The autovacuum workers among the sessions our backend waits for. Its query reads
-- "autovacuum: VACUUM public.t (to prevent wraparound)" for an anti-wraparound vacuum, which
-- never yields its lock; any other autovacuum can be canceled and starts again later.
SELECT a.pid, a.query
  FROM unnest(pg_blocking_pids(%(pid)s)) AS b(pid)
  JOIN pg_stat_activity AS a ON a.pid = b.pid
 WHERE a.backend_type = 'autovacuum worker';

-- name: cancel
SELECT pg_cancel_backend(%(pid)s);

-- name: can_cancel_autovacuum
-- PostgreSQL 15 to 17 let a member of pg_signal_backend (or a superuser) cancel an
-- autovacuum worker; 18 asks for pg_signal_autovacuum_worker instead.
SELECT current_user,
       rolsuper
       OR pg_has_role(current_user, CASE WHEN current_setting('server_version_num')::int >= 180000
                                         THEN 'pg_signal_autovacuum_worker' ELSE 'pg_signal_backend' END,
                      'USAGE')
  FROM pg_roles
 WHERE rolname = current_user;
