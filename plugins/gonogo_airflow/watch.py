"""The watch window as a deferrable operator: the task defers to a trigger that polls
production's metrics from the triggerer between sleeps, so a 48-hour window holds no worker
slot (one asyncio coroutine in the triggerer; each poll opens and closes its own session).

The analysis itself is gonogo.analysis, the same code the library's own tests run; the trigger
only schedules it. If the triggerer restarts mid-window, the trigger starts again with its
serialized kwargs: the deadline is absolute, the breach counts start over.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta, timezone

from airflow.sdk import BaseOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent

from gonogo_airflow import ids


class WatchTrigger(BaseTrigger):
    def __init__(self, *, conn_id: str, app: str, guards: dict, baseline: dict, deadline: str, started: str,
                 interval: float, error_limit: int, folder: str = ""):
        super().__init__()
        self.conn_id, self.app, self.guards, self.baseline = conn_id, app, guards, baseline
        self.deadline, self.started, self.interval, self.error_limit = deadline, started, interval, error_limit
        self.folder = folder  # the run's artifacts: where the report tab reads the time left

    def serialize(self):
        return ("gonogo_airflow.watch.WatchTrigger", {
            "conn_id": self.conn_id, "app": self.app, "guards": self.guards, "baseline": self.baseline,
            "deadline": self.deadline, "started": self.started, "interval": self.interval,
            "error_limit": self.error_limit, "folder": self.folder})

    def _tell(self, line: str) -> None:
        """The progress line into the log and beside the report (the report tab shows it)."""
        from gonogo.watching import watch_status

        self.log.info(line)  # the triggerer's log: the task log in Airflow 3
        if self.folder:
            try:
                watch_status.write(self.folder, started=self.started, deadline=self.deadline, line=line)
            except OSError as exc:  # the page's line is a convenience: the window goes on without it
                self.log.warning("could not write the watch status for the report tab: %s", exc)

    async def run(self):
        from gonogo.watching.analysis import ALARM, INCONCLUSIVE, Analysis, Metric
        from gonogo.postgres.target import SessionGuards
        from gonogo.watching.watch import opening, poll, progress
        from gonogo_airflow.rollout import target_from_connection

        target = await asyncio.to_thread(target_from_connection, self.conn_id, "production")
        guards = SessionGuards(**self.guards)
        found = [Metric.from_dict(m) for m in self.baseline["metrics"]]
        started, deadline = datetime.fromisoformat(self.started), datetime.fromisoformat(self.deadline)
        window = (deadline - started).total_seconds()
        analysis = Analysis.from_baseline(found, self.baseline, window_seconds=window, error_limit=self.error_limit,
                                          started_at=started.timestamp())
        self._tell(opening(analysis, self.interval))
        while True:
            left = (deadline - datetime.now(timezone.utc)).total_seconds()
            await asyncio.sleep(max(0.0, min(self.interval, left)))
            readings = await asyncio.to_thread(poll, target, self.app, guards, found)
            elapsed = (datetime.now(timezone.utc) - started).total_seconds()
            status = analysis.observe(readings, elapsed)
            await asyncio.to_thread(self._tell, progress(analysis, window))
            if status not in (ALARM, INCONCLUSIVE) and elapsed >= window:
                status = analysis.finish()
            if status != "running":
                yield TriggerEvent({"status": status, "ended_at": datetime.now(timezone.utc).isoformat(),
                                    "results": [r.to_dict() for r in analysis.results()]})
                return


class WatchWindow(BaseOperator):
    """Watch production for the run's monitoring_hours against the baseline read before the
    batch; returns {"status": passed | alarm | inconclusive, "results": [...], "ended_at": ...}."""

    def __init__(self, *, baseline_task: str, **kwargs):
        super().__init__(**kwargs)
        self.baseline_task = baseline_task

    def execute(self, context):
        from gonogo.apply import production
        from gonogo.watching import watch_status
        from gonogo.watching.watch import interval_for
        from gonogo_airflow.rollout import Rollout

        r = Rollout.from_context(context)
        hours = float(r.params["monitoring_hours"])
        now = datetime.now(timezone.utc)
        if hours <= 0:
            return {"status": "passed", "ended_at": now.isoformat(), "results": [], "skipped": "monitoring_hours is 0"}
        baseline = context["ti"].xcom_pull(task_ids=self.baseline_task)
        if opened := production.window_opened(r.ctx):  # a retry: the window goes on to its deadline
            started, deadline = opened["started"], opened["deadline"]
            self.log.info("resuming the watch window opened at %s, to its deadline %s", started, deadline)
        else:
            started, deadline = now.isoformat(), (now + timedelta(hours=hours)).isoformat()
            production.record(r.ctx, "watch_started", detail={"started": started, "deadline": deadline, "hours": hours})
        watch_status.write(r.folder, started=started, deadline=deadline, line="the first reading is under way")
        self.defer(trigger=WatchTrigger(
            conn_id=r.params["production_conn_id"], app=r.app, guards=dataclasses.asdict(r.guards), baseline=baseline,
            started=started, deadline=deadline, interval=interval_for(hours * 3600, r.batch),
            error_limit=r.batch.watch.error_limit, folder=str(r.folder)),
            method_name="execute_complete")

    def execute_complete(self, context, event):
        from gonogo.apply import production
        from gonogo.reporting import slack
        from gonogo.results import failures, from_dicts
        from gonogo_airflow.notify import send
        from gonogo_airflow.rollout import Rollout

        r = Rollout.from_context(context)
        _ended(r.folder, event)
        production.record(r.ctx, f"watch_{event['status']}", detail={"ended_at": event["ended_at"],
                                                                     "failing": [x["subject"] for x in event["results"]
                                                                                 if x["verdict"] == "FAIL"]})
        if event["status"] != "passed":
            send(r, slack.watch_alarm(r.info, failures(from_dicts(event["results"])), r.task_url,
                                      inconclusive=event["status"] == "inconclusive",
                                      decision_url=r.decision_url(ids.DECIDE_AFTER_WATCH)))
        return event


def _ended(folder, event: dict) -> None:
    """The report tab stops showing a running window."""
    from gonogo.watching import watch_status

    if state := watch_status.read(folder):
        watch_status.write(folder, started=state["started"], deadline=state["deadline"],
                           line=f"ended: {event['status']}", ended=True)
