"""A/A benchmark of the watch window's judgement (gonogo.watching.judge): 10 windows after a batch that
changes no plan, each with a CPU hog (one Python loop per core) started at a random moment after
the baseline — alarms, goal 0; 10 windows after a migration that drops the index a top query
uses — alarms, goal 10, and the time from the migration to the alarm. Windows of seconds
(0.5 s intervals, 6 baseline intervals, 8 s window) on the tiny app of tests/judge_app.py."""

from __future__ import annotations

import random
import statistics
import time

from benchlib import machine, table
from gonogo.watching.analysis import ALARM
from judge_app import WINDOW_HOURS, context, cpu_hog, drop_tiny_app, make_tiny_app, tiny_batch, window

RUNS = 10


def _fired(results) -> str:
    fired = sorted({d["note"].removeprefix("breach: ") for r in results for d in r.details
                    if d.get("note", "").startswith("breach: ")})
    return ", ".join(fired) or "—"


def test_bench_watch_aa(prod_cluster):
    rng = random.Random(13)
    rows, hog_alarms, drop_alarms, to_alarm = [], 0, 0, []
    for i in range(RUNS):
        app = make_tiny_app(prod_cluster)
        try:
            at = rng.uniform(0.0, WINDOW_HOURS * 3600 * 0.8)
            status, results = window(context(app, tiny_batch()), during=cpu_hog(after=at))
        finally:
            drop_tiny_app(prod_cluster, app)
        hog_alarms += status == ALARM
        rows.append((f"CPU hog at {at:.1f} s", i + 1, status, _fired(results), "—"))
    for i in range(RUNS):
        app = make_tiny_app(prod_cluster)
        dropped = {}

        class Migration:
            """The batch's migration, run right after the baseline: DROP INDEX items_v."""

            def __enter__(self):
                with app.connect("bench/migration", guards=None) as conn:
                    conn.execute("DROP INDEX items_v")
                dropped["at"] = time.monotonic()

            def __exit__(self, *exc):
                dropped["done"] = time.monotonic()

        try:
            status, results = window(context(app, tiny_batch()), during=Migration())
        finally:
            drop_tiny_app(prod_cluster, app)
        took = dropped["done"] - dropped["at"]
        drop_alarms += status == ALARM
        if status == ALARM:
            to_alarm.append(took)
        rows.append(("DROP INDEX a top query uses", i + 1, status, _fired(results),
                     f"{took:.1f} s" if status == ALARM else "no alarm"))
    summary = [("CPU hog, plan unchanged (goal 0 alarms)", f"{hog_alarms} of {RUNS}", "—"),
               ("index dropped (goal 10 alarms)", f"{drop_alarms} of {RUNS}",
                f"median {statistics.median(to_alarm):.1f} s, max {max(to_alarm):.1f} s" if to_alarm else "no alarm")]
    table("watch_aa", "Watch window A/A: alarms and time to alarm",
          ("rollouts", "alarms", "time from migration to alarm"), summary,
          notes=[machine(), "0.5 s intervals, 6 baseline intervals, 8 s windows; tests/judge_app.py's tiny app",
                 "an alarm needs the plan or the pages per call to change, or a rank-test slowdown the controls "
                 "(a CPU probe and a query on a table the batch does not touch) do not share"])
    table("watch_aa_runs", "Watch window A/A: every run", ("run", "#", "status", "evidence fired", "to alarm"), rows,
          notes=[machine()])
