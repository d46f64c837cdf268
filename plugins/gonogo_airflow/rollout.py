"""What a task of the rollout DAG needs, resolved from the run's params and connections."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import quote

from typing import TYPE_CHECKING

from airflow.sdk import Connection, get_current_context
from airflow.sdk.exceptions import AirflowNotFoundException

from gonogo import artifacts
from gonogo.errors import BatchError, TargetError
from gonogo.gates.preflight import preflight_gate
from gonogo.results import to_dicts
from gonogo.postgres.target import SessionGuards, Target

from gonogo_airflow import ids

if TYPE_CHECKING:  # at DAG parse time this module stays light: the batch is loaded in tasks
    from gonogo.batch import Batch
    from gonogo.decision import Decision
    from gonogo.context import RunContext
    from gonogo.reporting.report import RunInfo
    from gonogo.postgres.retry import RetryPolicy

log = logging.getLogger("gonogo")


def target_from_connection(conn_id: str, name: str) -> Target:
    """A Target from an Airflow connection (Postgres type: schema is the database name)."""
    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        raise TargetError(
            f"the Airflow connection {conn_id!r} ({name}) is not defined. Add it in Admin → Connections "
            f"or as AIRFLOW_CONN_{conn_id.upper()}='postgresql://user:password@host:5432/dbname'.") from None
    if not conn.host or not conn.schema or not conn.login:
        raise TargetError(f"the Airflow connection {conn_id!r} ({name}) needs a host, a database "
                          f"(the 'schema' field) and a login")
    return Target(name=name, host=conn.host, port=int(conn.port or 5432), dbname=conn.schema,
                  user=conn.login, password=conn.password or None,
                  sslmode=(conn.extra_dejson or {}).get("sslmode"))


@dataclass
class Rollout:
    dag_id: str
    run_id: str
    task_id: str
    params: dict
    ti: object = None

    @classmethod
    def current(cls) -> Rollout:
        return cls.from_context(get_current_context())

    @classmethod
    def from_context(cls, context) -> Rollout:
        ti = context["ti"]
        return cls(dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id,
                   params=dict(context["params"]), ti=ti)

    @cached_property
    def batch(self) -> Batch:
        """The run's batch. From a migration tool, the migrations production had not applied
        when prepare.validate_batch looked (`pinned`): every task of the run sees the same steps."""
        from gonogo.tools.imported import pinned
        from gonogo.authoring.queries import Query

        batch = self.loaded_batch
        found = None if self.task_id == ids.VALIDATE_BATCH else self.ti.xcom_pull(task_ids=ids.VALIDATE_BATCH)
        if batch.tool is not None and found:
            batch = pinned(batch, found["pending"], found["applied_before"])
        if not batch.queries and self.task_id != ids.CAPTURE_BASELINE:
            # the app's queries the dry run found on production: the watch window and the report use them too
            baseline = self.ti.xcom_pull(task_ids=ids.CAPTURE_BASELINE) or {}
            batch = dataclasses.replace(batch, queries=tuple(Query.from_dict(q) for q in baseline.get("queries", ())))
        return batch

    @cached_property
    def loaded_batch(self) -> Batch:
        """The batch as the params name it, every migration of a tool folder in it."""
        from gonogo.batch import load_batch
        from gonogo.tools.imported import import_batch

        if self.params.get("migration_tool"):
            if not self.params.get("migrations_folder"):
                raise BatchError(f"migration_tool is {self.params['migration_tool']!r} but migrations_folder is "
                                 f"empty: give the folder that holds its migrations")
            batch = import_batch(self.params["migration_tool"], Path(self.params["migrations_folder"]))
        else:
            batch = load_batch(self.params["batch"])
        return batch.with_enabled(self.params.get("enable_steps"))

    def validated_batch(self, drawn: list[str] | None = None) -> dict:
        """The whole batch checked before anything else runs; from a migration tool, only what
        production's tool history has not applied, the rest the schema production should have.
        drawn: the steps a batch's own DAG has a node for; the batch must still have exactly those."""
        from gonogo.tools.imported import pending

        self.guards, self.policy  # noqa: B018 - the run's timeouts within their ranges, before anything runs
        batch = self.loaded_batch
        if drawn is not None and [s.name for s in batch.steps] != drawn:
            raise BatchError(
                f"batch {batch.id} has changed since its DAG was drawn: its steps are now "
                f"{', '.join(s.name for s in batch.steps)}; the DAG has nodes for {', '.join(drawn)}. "
                f"Nothing was run: trigger again once Airflow has parsed dags/gonogo_batches.py anew "
                f"(within its min_file_process_interval), so that each step has its node.")
        if batch.tool is not None:
            with self.session("production") as conn:
                batch = pending(batch, conn)
        return {**batch.summary(), "pending": [s.name for s in batch.steps],
                "applied_before": [m.name for m in batch.applied_before]}

    @cached_property
    def production(self) -> Target:
        return target_from_connection(self.params["production_conn_id"], "production")

    @cached_property
    def staging(self) -> Target:
        return target_from_connection(self.params["staging_conn_id"], "staging")

    @property
    def guards(self) -> SessionGuards:
        return SessionGuards(lock_timeout=self.params["lock_timeout"],
                             statement_timeout=self.params["statement_timeout"])

    @property
    def app(self) -> str:
        """application_name after 'gonogo/': which run (its short key: a run id is too long to keep
        the task's name within 63 characters) and task this session belongs to."""
        from gonogo.apply.rollout_lock import run_key

        return f"{run_key(self.run_id)}/{self.task_id}"

    def session(self, which: str):
        """A guarded session on production or staging, named after this run and task."""
        return getattr(self, which).connect(self.app, self.guards)

    def run_gate(self, name: str) -> list[dict]:
        """One preflight gate of gonogo.preflight, against this run's targets; results as dicts."""
        results = preflight_gate(name).run(self)
        return to_dicts(results if isinstance(results, list) else [results])

    @property
    def policy(self) -> RetryPolicy:
        """Lock timeout per attempt and retries for every production statement (gonogo.postgres.retry)."""
        from gonogo.postgres.retry import RetryPolicy
        from gonogo.postgres.timeouts import check

        return RetryPolicy(lock_timeout=check("lock_attempt_timeout", self.params["lock_attempt_timeout"], "the run's "
                                              "parameters"), attempts=int(self.params["lock_retries"]))

    @cached_property
    def ctx(self) -> RunContext:
        """The library's view of this task: gonogo.context.RunContext."""
        from gonogo.context import RunContext

        return RunContext(batch=self.batch, production=self.production, staging=self.staging, run_id=self.run_id,
                          app=self.app, folder=self.folder, guards=self.guards, policy=self.policy)

    def write_final_report(self, applied: list | None, watched: dict | None, end=None) -> None:
        """The report once the rollout has ended: how it ended (`end`, an outcome.Outcome) over
        the evidence the approver saw, then what production did and what the watch window
        measured (the same files, rewritten)."""
        from gonogo.reporting import signoff
        from gonogo.reporting.report import write_reports
        from gonogo.results import from_dicts

        evidence = self.ti.xcom_pull(task_ids=ids.EVALUATE_GATES, key=ids.EVIDENCE)
        if evidence is None:
            return  # stopped before the report was first written, or it already says why
        production = [self.ti.xcom_pull(task_ids=task) for task in
                      (ids.CHECK_SESSION_GUARDS, ids.TAKE_BACKUP, ids.CREATE_RESTORE_POINT, ids.ROLLBACK)]
        if applied is None:  # a migration failed: what each apply task returned, and the failed one's results
            pull = self.ti.xcom_pull
            applied = [r for task in self.apply_tasks
                       for r in (pull(task_ids=task) or pull(task_ids=task, key=ids.STEP_RESULTS) or [])]
        write_reports(self.folder, self.info, self.batch,
                      from_dicts([evidence, *production, applied, (watched or {}).get("results")])
                      + signoff.results(self.decision(ids.APPROVE)), end)

    @property
    def apply_tasks(self) -> list[str]:
        """The tasks that apply the migrations: a node per migration and one per its validation
        (a batch's own DAG), in the order they run, or the one task (gonogo_rollout)."""
        nodes = [ids.migration(step.name, node) for step in self.batch.steps
                 for node in (ids.MIGRATION_APPLY, ids.MIGRATION_VALIDATE)]
        return nodes if all(self.ti.task.dag.has_task(node) for node in nodes) else [ids.APPLY]

    def plan_steps(self) -> list[str]:
        """The steps this run applies, kept in XCom "to_apply" (a short circuit's empty return
        value is not kept)."""
        from gonogo.apply import production

        to_apply, _ = production.plan(self.ctx)
        log.info("to apply: %s", ", ".join(to_apply) or "nothing: every enabled step was applied before")
        self.ti.xcom_push(key=ids.TO_APPLY, value=to_apply)
        return to_apply

    @property
    def nothing_to_apply(self) -> bool:
        """prepare.plan_steps found every enabled step applied before (None: it did not run)."""
        return self.ti.xcom_pull(task_ids=ids.PLAN_STEPS, key=ids.TO_APPLY) == []

    def decision(self, task_id: str) -> Decision | None:
        """What a human (or a timeout) chose in a HITL task of this run; None: not answered."""
        from gonogo.decision import Decision

        return Decision.from_dict(self.ti.xcom_pull(task_ids=task_id, key=ids.DECISION))

    @cached_property
    def folder(self) -> Path:
        return artifacts.run_dir(self.dag_id, self.run_id)

    @property
    def base_url(self) -> str:
        from airflow.configuration import conf

        return conf.get("api", "base_url", fallback="http://localhost:8080").rstrip("/")

    @property
    def run_url(self) -> str:
        return f"{self.base_url}/dags/{self.dag_id}/runs/{quote(self.run_id)}"

    @property
    def task_url(self) -> str:
        return f"{self.run_url}/tasks/{self.task_id}"

    def decision_url(self, task_id: str) -> str:
        """The page where a human answers a HITL task of this run (Approve / Reject, ...)."""
        return f"{self.run_url}/tasks/{task_id}/required_actions"

    @property
    def report_url(self) -> str:
        """The run's "Go/No-Go report" tab in the Airflow UI (plugins/gonogo_plugin.py shows the
        HTML report the plugin serves at /gonogo/reports/<dag>/<run> in it)."""
        return f"{self.run_url}/plugin/gonogo_report"

    @property
    def window(self):
        """The low-traffic window: the form's (window_start, window_end, window_timezone), else
        the batch's; None when neither sets one."""
        from gonogo.apply.window import Window

        if self.params.get("window_start") or self.params.get("window_end"):
            return Window.parse(self.params.get("window_start"), self.params.get("window_end"),
                                self.params.get("window_timezone") or "UTC", where="the trigger form's window")
        return self.batch.window

    @property
    def bare_info(self) -> RunInfo:
        """Who the run is, from its ids and params alone: what a message says when nothing else can be read."""
        from gonogo.reporting.report import RunInfo

        return RunInfo(dag_id=self.dag_id, run_id=self.run_id, run_url=self.run_url,
                       batch_id=str(self.params.get("batch") or self.params.get("migrations_folder") or "?"),
                       batch_title="(not read: gonogo failed while reporting)")

    @property
    def info(self) -> RunInfo:
        from gonogo.reporting.report import RunInfo

        try:
            title = self.batch.title
        except Exception:  # noqa: BLE001 - a batch that does not load, for whatever reason, is still reported
            title = "(batch does not load)"
        try:
            batch_id = self.batch.id
        except Exception:  # noqa: BLE001
            batch_id = self.params.get("batch") or self.params.get("migrations_folder") or "?"
        written = (self.folder / "report.html").is_file()  # a run stopped early has none: no link to one
        return RunInfo(dag_id=self.dag_id, run_id=self.run_id, batch_id=batch_id,
                       batch_title=title, run_url=self.run_url,
                       report_url=self.report_url if written else "")
