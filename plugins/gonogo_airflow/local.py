"""A local Airflow for the demo, the tests and the local UI: settings and an answerer.

`airflow_env()` must be applied to os.environ before Airflow is first imported.
`Approver` answers the approval task through Airflow's own public API, in-process:
the demo uses it as a clearly labelled stand-in for a human, the tests to take both
the Approve and the Reject path.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from gonogo.postgres.target import Target

PROJECT_DIR = Path(__file__).resolve().parents[2]


def connection_json(target: Target) -> str:
    """An Airflow connection (AIRFLOW_CONN_<ID> value) for a PostgreSQL target."""
    return json.dumps({"conn_type": "postgres", "host": target.host, "port": target.port,
                       "schema": target.dbname, "login": target.user, "password": target.password})


def slack_connection_json(token: str, base_url: str) -> str:
    return json.dumps({"conn_type": "slack", "password": token, "extra": {"base_url": base_url}})


def airflow_env(home: Path, connections: dict[str, str], artifacts: Path | None = None) -> dict[str, str]:
    """Environment for a self-contained Airflow: SQLite metadata in `home`, our dags and plugins,
    no examples, connections from AIRFLOW_CONN_* variables."""
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_DIR / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__API__HOST": "127.0.0.1",
        # The local stack shares a small machine with its clusters (and, in the tests, a browser and
        # other suites): the API server answered in up to 12 s under load, and with the default 5 s a
        # worker's supervisor gave up on it and killed a healthy task (SIGKILL, no log line of its own).
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
        "AIRFLOW__API__AUTO_REFRESH_INTERVAL": "10",              # the Grid's polling: 3 s by default
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",  # a batch folder's DAG within a minute
        **{f"AIRFLOW_CONN_{conn_id.upper()}": value for conn_id, value in connections.items()},
    }
    if artifacts:
        env["GONOGO_ARTIFACTS_DIR"] = str(artifacts)
    return env


def migrate_metadata_db() -> None:
    """`airflow db migrate`, in-process (idempotent: a current database is left alone)."""
    from airflow.utils.db import initdb

    initdb()


def load_dag(dag_id: str = "gonogo_rollout"):
    """The DAG object from dags/, parsed the way Airflow parses it."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_DIR / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return bag.get_dag(dag_id)


def app_traffic(production: Target, queries):
    """The app's queries sent to production during a local run (2 clients, a pause between
    rounds so they leave the measurements some CPU); nothing when queries is None (your
    production has its own app)."""
    from gonogo.rehearsal.workload import Workload

    if not queries:
        return contextlib.nullcontext()
    return Workload(production, queries, clients=2, app="demo/app", think_seconds=0.2, commit_writes=True)


ANSWER_AFTER_SECONDS = 2.0
PARKED = ("awaiting_input", "deferred")  # the states in which Airflow's API resumes a task it answers


class Approver:
    """Answers pending approvals of one DAG from a background thread, through the REST API.

    before_answer(detail) runs first (tests use it to change production between the
    snapshot and the apply). choice: one option for every question ("Approve", "Reject"), or
    {task_id: option} — e.g. {"decide.approve_rollout": "Approve",
    "production.decide_on_failure": "Fix forward"}; a question not in it is left unanswered. An
    option may be a list: one per time the task asks (an approval not counted asks again).
    """

    def __init__(self, dag_id: str, choice: str | dict[str, str | list[str]], before_answer: Callable[[dict], None] | None = None,
                 label: str = "approver"):
        from airflow.api_fastapi.app import create_app
        from airflow.models import import_all_models
        from fastapi.testclient import TestClient
        from sqlalchemy.orm import configure_mappers

        import_all_models()
        configure_mappers()  # in the main thread: the API thread must not race to do it
        self.client = TestClient(create_app("core"))
        self.dag_id, self.choice, self.before_answer, self.label = dag_id, choice, before_answer, label
        self.answered: list[dict] = []
        self.errors: list[str] = []
        self._first_seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="gonogo-approver")

    def __enter__(self) -> Approver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                response = self.client.get("/api/v2/dags/~/dagRuns/~/hitlDetails",
                                           params={"dag_id_pattern": self.dag_id, "response_received": False})
                for detail in response.json().get("hitl_details", []):
                    ti = detail["task_instance"]
                    # The question is listed while its task is still running, before it parks. An
                    # answer that lands then resumes nothing (the API resumes only a parked task)
                    # and the run hung on a loaded machine: answer a parked task only, and as a
                    # person would, after a short read.
                    if ti.get("state") not in PARKED:
                        continue
                    seen = self._first_seen.setdefault(f"{ti['dag_run_id']}/{ti['task_id']}", time.monotonic())
                    if time.monotonic() - seen >= ANSWER_AFTER_SECONDS:
                        self._answer(detail)
            except Exception as exc:  # keep answering; the caller reads .errors
                self.errors.append(repr(exc))
                print(f"[{self.label}] error while answering: {exc!r}", flush=True)

    def _answer(self, detail: dict) -> None:
        ti = detail["task_instance"]
        choice = self.choice.get(ti["task_id"]) if isinstance(self.choice, dict) else self.choice
        key = f"{ti['dag_run_id']}/{ti['task_id']}"
        if isinstance(choice, list):  # the n-th ask of this task gets the n-th answer (the last, after)
            asked = sum(1 for a in self.answered if f"{a['run_id']}/{a['task_id']}" == key)
            choice = choice[min(asked, len(choice) - 1)]
        if choice not in detail.get("options", [choice]):
            # A question nobody expected: answer with its default so the run ends, and say so.
            expected = choice  # never Approve by default: the question's default, else Reject
            choice = (detail.get("defaults") or [o for o in detail.get("options") or () if o == "Reject"] or [None])[0]
            if choice is None:
                self.errors.append(f"unexpected question {ti['task_id']} ({detail.get('subject')}): left unanswered")
                return
            self.errors.append(f"unexpected question {ti['task_id']} ({detail.get('subject')}): expected answer "
                               f"{expected!r} is not an option; answered its default {choice!r}")
        if self.before_answer and ti["task_id"].endswith("approve_rollout"):
            self.before_answer(detail)
        url = (f"/api/v2/dags/{ti['dag_id']}/dagRuns/{ti['dag_run_id']}/taskInstances/"
               f"{ti['task_id']}/{ti['map_index']}/hitlDetails")
        response = self.client.patch(url, json={"chosen_options": [choice]})
        if response.status_code != 200:
            self.errors.append(f"{response.status_code}: {response.text}")
            print(f"[{self.label}] answer refused: {response.status_code} {response.text}", flush=True)
            return
        self._first_seen.pop(key, None)  # asked again, it is read again before the next answer
        self.answered.append({"run_id": ti["dag_run_id"], "task_id": ti["task_id"], "choice": choice,
                              "at": time.time(), "body": detail.get("body") or "",
                              "defaults": detail.get("defaults")})
        print(f"[{self.label}] answered {choice} for {ti['dag_run_id']}/{ti['task_id']}", flush=True)
