-- Progress of an index build (gonogo.progress), read from a second session while the
-- statement runs. The index and table are named through regclass, which takes no lock;
-- index_relid is 0 ('-') until the build has created its catalog entry.

-- name: create_index
-- One row while `pid` runs CREATE INDEX or REINDEX (CONCURRENTLY or not), none otherwise.
-- The session it waits for (a CONCURRENTLY build waits for older transactions) is named by
-- its application_name, so the log says who holds it up.
SELECT p.command,
       p.phase,
       CASE WHEN p.index_relid <> 0 THEN p.index_relid::regclass::text END AS index,
       p.relid::regclass::text AS "table",
       p.blocks_done, p.blocks_total,
       p.tuples_done, p.tuples_total,
       p.lockers_done, p.lockers_total,
       p.partitions_done, p.partitions_total,
       nullif(p.current_locker_pid, 0) AS locker_pid,
       a.application_name AS locker_application
  FROM pg_stat_progress_create_index AS p
  LEFT JOIN pg_stat_activity AS a ON a.pid = p.current_locker_pid AND p.current_locker_pid <> 0
 WHERE p.pid = %(pid)s;
