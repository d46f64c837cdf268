"""Running the rollout DAG with Airflow's own dag.test() against the session's clusters."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import sample_app
from helpers import failed_gates, states
from gonogo.batch import load_batch
from gonogo_local.slack import LocalSlack
from gonogo.rehearsal.workload import Workload
from gonogo.postgres.target import Target
from gonogo_airflow import local
from gonogo_airflow.params import ROLLOUT_PARAMS

SCALE = 0.1
BATCH = load_batch("20250115_recipe_fixes")


@pytest.fixture(scope="session")
def rollout_dag():
    local.migrate_metadata_db()
    return local.load_dag("gonogo_rollout")


@pytest.fixture(scope="session")
def batch_dag():
    """The batch's own DAG (dags/gonogo_batches.py): a node per migration."""
    local.migrate_metadata_db()
    return local.load_dag("gonogo_" + BATCH.id)


@dataclass
class Rollout:
    dag: object
    production: Target
    staging: Target
    slack: LocalSlack
    artifacts: Path
    answered: list = field(default_factory=list)
    api: object = None  # Airflow's API server app (TestClient) the last run was answered through
    app_queries: tuple = BATCH.queries  # what the app keeps sending production during a run

    def run(self, choice="Approve", before_answer=None, **conf):
        """dag.test() of one run while the app keeps querying production; questions are answered
        from a background thread: `choice` for the approval, or {task_id: option}."""
        # a 3.6 s watch window. Every run names its batch: seen here, a dag.test() run whose conf left
        # `batch` or `migration_tool` out ran with the previous run's value (Airflow 3.3)
        # Every param is given (its form default unless the test says): a param a test set, such as
        # lock_attempt_timeout, otherwise stays for the following runs of the same process.
        conf = {**{name: param.value for name, param in ROLLOUT_PARAMS.items()},
                "monitoring_hours": 0.001, "batch": BATCH.id, "migration_tool": None, "migrations_folder": None, **conf}
        conf = {name: value for name, value in conf.items() if name in self.dag.params}  # a batch's DAG has fewer
        answers = {"decide.approve_rollout": choice} if isinstance(choice, str) else choice
        with Workload(self.production, self.app_queries, clients=1, app="tests/app", commit_writes=True), \
                local.Approver(self.dag.dag_id, answers, before_answer) as approver:
            dagrun = self.dag.test(run_conf=conf)
        assert not approver.errors, approver.errors
        self.answered, self.api = approver.answered, approver.client
        return dagrun

    def why(self, dagrun) -> str:
        """What an assertion on a run prints: the tasks that did not succeed, the reports' FAIL
        lines and what Slack was told (a crashed task's alert carries its exception)."""
        ti = {task: state for task, state in states(dagrun).items() if state not in ("success", "skipped", "upstream_failed")}
        told = [json.dumps(m.get("blocks") or m.get("text"))[:800] for m in self.slack.messages]
        return "\n".join([f"run {dagrun.state}; tasks {ti}", *failed_gates(self.artifacts), *told])


@pytest.fixture
def rollout(rollout_dag, make_database, monkeypatch, tmp_path):
    """A production database with the recipe app at a small scale, an empty staging database,
    a local Slack, and the Airflow connections pointing at them."""

    def make(defects=(), scale: float = SCALE, load=None, app_queries=None, dag=None) -> Rollout:
        """load(production): the app's schema and rows (default: the recipe app); app_queries: what
        the app sends production during the run (default: the recipe app's); dag: another DAG than
        gonogo_rollout (a batch's own)."""
        production = make_database("production", "rollout")
        if load is None:
            sample_app.load(production, scale=scale, defects=defects)
        else:
            load(production)
        with production.connect("tests", guards=None) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        staging = make_database("staging", "rollout_staging")
        monkeypatch.setenv("AIRFLOW_CONN_GONOGO_PRODUCTION", local.connection_json(production))
        monkeypatch.setenv("AIRFLOW_CONN_GONOGO_STAGING", local.connection_json(staging))
        monkeypatch.setenv("AIRFLOW_CONN_GONOGO_SLACK", local.slack_connection_json("xoxb-test", slack.api_url))
        monkeypatch.setenv("GONOGO_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
        return Rollout(dag or rollout_dag, production, staging, slack, tmp_path / "artifacts",
                       app_queries=app_queries or BATCH.queries)

    with LocalSlack() as slack:
        yield make
