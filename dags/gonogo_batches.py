"""
### gonogo_<batch>: one DAG per batch folder, each migration a node of its own

Drawn from each batch's manifest when Airflow parses this file, as astronomer-cosmos draws a dbt
project: the same rollout as gonogo_rollout (prepare, preflight, dry run, decide, production,
watch), with each migration a node of its own: `dry_run.apply_<step>`, its rehearsal on the
staging copy (the first failure stops the ones after it); `production.apply_<step>`, and the
paired `production.rollback_<step>` that runs, in reverse, for what this run applied when
on-call chooses Roll back; then `rollback_migrations` proves the pre-batch schema. A batch leaves the list when its folder moves
into the batches directory's `retired/` folder; production's history keeps what it applied.
"""

from __future__ import annotations

import logging

from gonogo.batches import outlines
from gonogo_airflow import ids
from gonogo_airflow.params import batch_params
from gonogo_airflow.rollout_dag import build

found, unreadable = outlines()
for problem in unreadable:  # that batch has no DAG of its own; gonogo_rollout's validate_batch says more
    logging.getLogger("gonogo").warning("batch not drawn: %s", problem)
for outline in found:
    dag_id = ids.batch_dag(outline.id)
    globals()[dag_id] = build(dag_id, f"### {outline.title or outline.id}\n\n" + __doc__, batch_params(outline.id), outline)
