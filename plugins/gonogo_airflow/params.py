"""The rollout's trigger form: what an operator chooses for a run."""

from __future__ import annotations

from airflow.sdk import Param

from gonogo.batches import available_batches
from gonogo.postgres.timeouts import RANGES
from gonogo.tools import NAMES as MIGRATION_TOOLS

_BATCHES = available_batches()
# A PostgreSQL duration other than 0 (wait forever); the range of each is checked when the run starts.
_DURATION = r"^(?!0+(ms|s|min|h)?$)[0-9]+(ms|s|min|h)?$"

ROLLOUT_PARAMS = {
    "batch": Param(_BATCHES[0] if _BATCHES else "", type="string", examples=_BATCHES or None,
                   title="Batch", description="A batch folder under the batches directory (GONOGO_BATCHES_DIR, "
                                              "else include/batches/). Not used when a migration tool is chosen."),
    # optional (null): an empty string field would make the form refuse to trigger
    "migration_tool": Param(None, type=["null", "string"], enum=[None, *MIGRATION_TOOLS],
                            title="Import from a migration tool",
                            description="Roll out the migrations of your tool's folder as they are: only those "
                                        "production's tool history has not applied. Empty: use the batch above."),
    "migrations_folder": Param(None, type=["null", "string"], title="Migrations folder",
                               description="The tool's migrations folder on the workers, e.g. "
                                           "/srv/app/prisma/migrations (with a migration tool above)."),
    "production_conn_id": Param("gonogo_production", type="string", title="Production connection",
                                description="Airflow connection id of the production database."),
    "staging_conn_id": Param("gonogo_staging", type="string", title="Staging connection",
                             description="Airflow connection id of staging. Its database is DROPPED and "
                                         "recreated from a copy of production on every run."),
    "monitoring_hours": Param(48.0, type="number", minimum=0, title="Watch window (hours)",
                              description="How long production is watched after the rollout."),
    "lock_timeout": Param("2s", type="string", pattern=_DURATION, title="Lock timeout",
                          description="lock_timeout of every session (the seed's 2s): the ceiling for any wait. "
                                      f"From {RANGES['lock_timeout'].describe()}; 0 (wait forever) is refused."),
    "lock_attempt_timeout": Param("200ms", type="string", pattern=_DURATION,
                                  title="Lock timeout per attempt",
                                  description="How long a migration statement that blocks the app may wait for "
                                              "its lock before it gives up and retries: the app's worst wait. "
                                              f"From {RANGES['lock_attempt_timeout'].describe()}."),
    "lock_retries": Param(60, type="integer", minimum=1, maximum=100, title="Lock retries",
                          description="Attempts per statement (or per BEGIN..COMMIT block) when its lock is "
                                      "not available within the attempt's timeout; backoff with jitter in between."),
    "failure_decision_minutes": Param(30, type="integer", minimum=1, title="On-call decision timeout (minutes)",
                                      description="When a production step fails, on-call chooses roll back or "
                                                  "fix forward; unanswered by then, the batch's on_failure applies."),
    "statement_timeout": Param("5min", type="string", pattern=_DURATION,
                               title="Statement timeout", description="statement_timeout of every session. "
                                                                      f"From {RANGES['statement_timeout'].describe()}."),
    "enable_steps": Param(None, type=["null", "array"], items={"type": "string"}, title="Enable disabled steps",
                          description="Steps the manifest disables to run in this rollout (e.g. the cleanup), "
                                      "allowed a week after a clean watch window; they get their own dry run "
                                      "and approval."),
    "window_start": Param(None, type=["null", "string"], title="Low-traffic window: start",
                          description="HH:MM: production changes start only inside the window; after the approval "
                                      "the run waits for it without a worker slot. Empty: the batch's, else none."),
    "window_end": Param(None, type=["null", "string"], title="Low-traffic window: end",
                        description="HH:MM (before the start: the window crosses midnight)."),
    "window_timezone": Param(None, type=["null", "string"], title="Low-traffic window: time zone",
                             description="IANA name, e.g. Europe/Berlin (default UTC)."),
    "approvers": Param(None, type=["null", "array"], items={"type": "string"}, title="Approvers",
                       description="Airflow logins who may approve this rollout, or @group for the members the "
                                   "Airflow Variable gonogo_groups lists (empty: the batch's, else anyone Airflow's "
                                   "roles allow). Never the person who triggers the run: four eyes."),
    "approvals_required": Param(None, type=["null", "integer"], minimum=1, maximum=5, title="Approvals required",
                                description="Different people who must approve, none of them the triggerer "
                                            "(empty: the batch's, else 1)."),
    "rollback_executors": Param(None, type=["null", "array"], items={"type": "string"}, title="Rollback executors",
                                description="Airflow logins who may choose roll back or fix forward when production "
                                            "fails (empty: the batch's, else anyone Airflow's roles allow)."),
    "slack_conn_id": Param("gonogo_slack", type="string", title="Slack connection",
                           description="Airflow Slack connection: the bot token as its password."),
    "slack_channel": Param("#db-rollouts", type="string", title="Slack channel",
                           description="Where on-call hears of this run: approval needed, a failed gate or step, "
                                       "the watch window's alarm, how it ended."),
}


def batch_params(batch_id: str) -> dict:
    """A batch's own DAG's form: the rollout's, with the batch fixed (its nodes were drawn from it)
    and no migration tool's folder."""
    params = {k: v for k, v in ROLLOUT_PARAMS.items() if k not in ("batch", "migration_tool", "migrations_folder")}
    return {"batch": Param(batch_id, type="string", enum=[batch_id], title="Batch",
                           description="This DAG's batch: each of its migrations is a node of its own. Another "
                                       "batch has its own DAG; any batch or a migration tool's folder: gonogo_rollout."),
            **params}
