"""Waiting for the low-traffic window after the approval, without holding a worker slot."""

from __future__ import annotations

from airflow.providers.standard.triggers.temporal import DateTimeTrigger
from airflow.sdk import BaseOperator


class LowTrafficWindow(BaseOperator):
    """Returns at once inside the run's window (or without one); otherwise tells Slack when the
    window opens and defers until then (the triggerer waits, no worker slot is held)."""

    def execute(self, context):
        from gonogo.reporting import slack
        from gonogo.apply.window import utcnow
        from gonogo_airflow.notify import send
        from gonogo_airflow.rollout import Rollout

        r = Rollout.from_context(context)
        window = r.window
        if window is None:
            return "no low-traffic window set"
        now = utcnow()
        if window.contains(now):
            return f"inside the window {window.describe()}"
        start, _ = window.around(now)
        self.log.info("outside the low-traffic window %s: waiting until %s", window.describe(), start.isoformat())
        send(r, slack.waiting_for_window(r.info, window.describe(), start.isoformat(), r.task_url))
        self.defer(trigger=DateTimeTrigger(moment=start), method_name="execute_complete")

    def execute_complete(self, context, event=None):
        from gonogo_airflow.rollout import Rollout

        window = Rollout.from_context(context).window
        window.check(what="the production phase")
        return f"the window {window.describe()} opened"
