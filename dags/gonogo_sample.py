"""
### gonogo_sample: production sampled ahead of any rollout

pg_stat_statements keeps cumulative counters only. So that a rollout's watch window can count
**the same hours of the day before** in its baseline, this DAG reads, every 15 minutes, what the
watch window reads — the control probe and the time, calls, shared blocks and rows of the app's
top 50 statements — on each production connection, in one guarded session, and stores it in
gonogo's schema there (`gonogo.samples`, `gonogo.sample_statements`), kept 8 days.

**Paused when it first appears**: unpause it at least a day before the rollouts it is for.
`GONOGO_SAMPLE_SCHEDULE` (a cron expression) and `GONOGO_SAMPLE_CONN_IDS` (comma-separated
connection ids) change the defaults when the DAG file is parsed.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, Param, get_current_context, task

SCHEDULE = os.environ.get("GONOGO_SAMPLE_SCHEDULE", "*/15 * * * *")
CONN_IDS = [c.strip() for c in os.environ.get("GONOGO_SAMPLE_CONN_IDS", "gonogo_production").split(",") if c.strip()]


@task
def list_databases() -> list[str]:
    """The production connections to sample (the run's `production_conn_ids`)."""
    return list(get_current_context()["params"]["production_conn_ids"])


@task(retries=0, execution_timeout=timedelta(minutes=5))
def sample_production(conn_id: str) -> dict:
    """One sample of this production database into its gonogo schema; older ones pruned."""
    from gonogo_airflow.sampling import sample
    return sample(conn_id, get_current_context())


with DAG(
    dag_id=Path(__file__).stem,
    doc_md=__doc__,
    schedule=SCHEDULE,
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=True,
    dagrun_timeout=timedelta(minutes=10),
    tags=["gonogo", "postgresql", "watch"],
    params={
        "production_conn_ids": Param(CONN_IDS, type="array", items={"type": "string"}, minItems=1,
                                     title="Production connections", description="Airflow connection ids of the "
                                     "production databases to sample (GONOGO_SAMPLE_CONN_IDS)."),
        "statements": Param(50, type="integer", minimum=1, maximum=500, title="Top statements",
                            description="The app's top statements (most total time) whose counters each sample keeps."),
        "retention_days": Param(8, type="number", minimum=1, maximum=60, title="Retention (days)",
                                description="Samples older than this are deleted; at most 3,000 are kept."),
    },
) as dag:
    sample_production.expand(conn_id=list_databases())
