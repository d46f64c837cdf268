"""
### gonogo: a migration batch rolled out the way the Go/No-Go checklist says

1. **prepare** — batch validated and linted; production snapshot (pg_dump) restored into staging.
2. **preflight** — versions, extensions, privileges, schema drift, required tables, orphans, monitoring.
3. **dry_run** — each migration applied to the copy under the app's queries: locks traced, plans
   compared, contracts run; then every rollback rehearsed and the batch applied again.
4. **decide** — the Go/No-Go report; a FAIL stops here and tells Slack, else `approve_rollout` waits.
5. **production** — the low-traffic window waited for (if set), timeouts, verified backup, restore
   point, each migration applied and validated (never outside the window);
   a failure rolls back what this run applied, in reverse.
6. **watch** — production's metrics against the pre-rollout baseline for `monitoring_hours` (no
   worker slot held); an alarm asks on-call to roll back or fix forward. **report_outcome** tells
   Slack how it ended; only a completed rollout ends green. Staging's database is **dropped and recreated**
   by the restore, and dropped with the snapshot once the dry run is done, however it ended.
"""

from __future__ import annotations

from pathlib import Path

from gonogo_airflow.params import ROLLOUT_PARAMS
from gonogo_airflow.rollout_dag import build

# The phases above, as tasks: gonogo_airflow/rollout_dag.py (each batch's own DAG, with a node per
# migration, is drawn by the same function: dags/gonogo_batches.py).
dag = build(Path(__file__).stem, __doc__, ROLLOUT_PARAMS)
