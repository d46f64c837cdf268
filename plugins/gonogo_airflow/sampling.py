"""The gonogo_sample DAG's task: one production connection sampled (gonogo.watching.watch.sample_production)."""

from __future__ import annotations

import logging

from gonogo.postgres.target import SessionGuards

log = logging.getLogger("gonogo")
GUARDS = SessionGuards(lock_timeout="2s", statement_timeout="1min", idle_in_transaction_session_timeout="1min")


def sample(conn_id: str, context) -> dict:
    """Sample the database of `conn_id`, in a session named after the run and task."""
    from gonogo.watching.watch import sample_production
    from gonogo_airflow.rollout import target_from_connection

    ti, params = context["ti"], context["params"]
    done = sample_production(target_from_connection(conn_id, "production"), f"{ti.run_id}/{ti.task_id}", GUARDS,
                             limit=int(params["statements"]), retention_days=float(params["retention_days"]))
    log.info("sampled %s: %d statements, control probe %s ms; %d samples kept since %s, %d pruned",
             done["database"], done["statements"], f"{done['probe_ms']:.3g}" if done["probe_ms"] else "not read",
             done["kept"], done["oldest"], done["pruned"])
    return done
