"""The whole rollout DAG under Airflow's own dag.test(), against real clusters and a real
local Slack server: approve, reject, a failed gate, a failed production step, and an
unreachable database."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest

import sample_app
from gonogo.apply import history, rollout_lock
from gonogo.watching import watch_status
from gonogo.batch import SHIPPED_BATCHES, load_batch
from helpers import body, deadlock_in_the_watch_window, headers, pg_dump_schema, states
from report_page import ReportPage

# Names the seed's checklist gives (its validation queries and rollback section).
SEED_CONSTRAINTS = {
    "RecipeItem_recipeId_ingredientId_key", "RecipeSection_recipeId_order_key",
    "Company_ownerId_fkey", "ProductionPlan_createdBy_fkey", "ProductionTask_assignedTo_fkey",
    "InventoryMovement_createdBy_fkey", "recipe_selling_price_positive", "ingredient_pack_price_positive",
    "recipe_yield_quantity_positive", "recipe_item_quantity_positive",
}
SEED_INDEXES = {
    "idx_recipe_name_trgm", "idx_recipe_description_trgm", "idx_recipe_method_trgm", "idx_recipe_list_covering",
    "idx_sales_record_analytics", "idx_production_history_company_date_recipe", "idx_inventory_movement_history",
    "idx_notification_unread", "idx_wholesale_order_status_date",
}


def catalog(target):
    with target.connect("tests", guards=None) as conn:
        constraints = dict(conn.execute("SELECT conname, convalidated FROM pg_constraint").fetchall())
        indexes = dict(conn.execute(
            "SELECT c.relname, i.indisvalid AND i.indisready FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid").fetchall())
        unmapped = conn.execute('SELECT count(*) FROM "Recipe" '
                                'WHERE category IS NOT NULL AND "categoryId" IS NULL').fetchone()[0]
        counts = sample_app.row_counts(conn)
    return constraints, indexes, unmapped, counts


def staging_exists(env) -> bool:
    with env.staging.with_dbname("postgres").connect("tests", guards=None) as conn:
        return conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [env.staging.dbname]).fetchone()[0] == 1


def test_approved_rollout_migrates_production(rollout):
    env = rollout()
    _, _, unmapped_before, counts_before = catalog(env.production)
    assert unmapped_before > 0  # the legacy category column is not mapped yet

    dagrun = env.run("Approve")
    ti_states = states(dagrun)

    assert str(dagrun.state) == "success", env.why(dagrun)
    constraints, indexes, unmapped, counts = catalog(env.production)
    assert SEED_CONSTRAINTS <= constraints.keys()
    assert all(constraints.values()), [name for name, valid in constraints.items() if not valid]
    assert SEED_INDEXES <= indexes.keys()
    assert all(indexes.values()), [name for name, valid in indexes.items() if not valid]
    assert unmapped == 0
    assert counts == counts_before
    with env.production.connect("tests", guards=None) as conn:  # the cleanup stays disabled
        assert conn.execute("SELECT count(*) FROM information_schema.columns "
                            "WHERE table_name = 'Recipe' AND column_name = 'category'").fetchone()[0] == 1

    # The audit trail in production: who approved, the backup, the restore point with its LSN
    # (named per run), every step applied from the file with the sha256 the history keeps.
    with env.production.connect("tests", guards=None) as conn:
        events = history.events(conn, "20250115_recipe_fixes")
        recorded = history.read(conn, "20250115_recipe_fixes")
        archived = conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()[0]
    kinds = [e["event"] for e in events]
    assert kinds[:4] == ["approve", "lock_taken", "backup", "restore_point"]
    assert events[0]["username"] and events[0]["run_id"] == dagrun.run_id
    point = events[3]["detail"]
    assert point["name"].startswith("pre_fix_batch_production_20250115__") and point["lsn"]
    assert archived >= point["walfile"]
    assert kinds.count("applied") == len(sample_app_batch_steps())
    # the database was this run's from before the backup until the watch window was over
    assert kinds.index("watch_started") < kinds.index("watch_passed") < kinds.index("lock_released")
    assert ti_states["production.release_rollout_lock"] == "success"
    with env.production.connect("tests", guards=None) as conn:
        assert rollout_lock.lease(conn) is None
    assert {name: (a.status, a.sha256) for name, a in recorded.items()} == {
        s.name: ("applied", s.forward.sha256) for s in load_batch("20250115_recipe_fixes").enabled_steps}

    # The approver saw every step of the dry run in the approval body.
    assert len(env.answered) == 1
    for step in sample_app_batch_steps():
        assert step in env.answered[0]["body"]

    # Two Slack messages: the approval waiting, with a button to its page and to the report;
    # then the summary, naming each applied step.
    assert len(env.slack.messages) == 2, headers(env.slack.messages)
    asking, done = env.slack.messages
    buttons = {b["text"]["text"]: b["url"] for b in asking["blocks"][2]["elements"]}
    run_url = f"http://localhost:8080/dags/gonogo_rollout/runs/{quote(dagrun.run_id)}"
    assert buttons["Approve or reject"] == f"{run_url}/tasks/decide.approve_rollout/required_actions"
    summary = body(done)
    for step in sample_app_batch_steps():
        assert step in summary
    # the report button leads to the run's report tab, which shows the report the gonogo plugin
    # serves in Airflow's API server
    assert buttons["Open the report"] == f"{run_url}/plugin/gonogo_report"
    served = env.api.get(f"/gonogo/reports/gonogo_rollout/{quote(dagrun.run_id)}")
    assert served.status_code == 200 and dagrun.run_id in served.text and "Go/No-Go" in served.text
    assert ReportPage(served.text).word == "ROLLED OUT"  # the final report leads with the outcome

    # Artifacts: report and backup, private to their owner.
    run_dir = next((env.artifacts / "gonogo_rollout").iterdir())
    report = json.loads((run_dir / "report.json").read_text())
    assert report["verdict"] in ("PASS", "WARN")  # warnings are for the approver, not a stop
    # The final report: every condition of the seed's Decision Gate was measured — through the
    # backup, the restore point, the sign-off and the watch window — except the window the run
    # did not set and the cleanup it did not enable.
    unmeasured = {row["condition"] for row in report["decision_gate"] if row["verdict"] is None}
    assert unmeasured == {"Low-traffic window scheduled", "Cleanup enabled only after a week of stable metrics"}
    signed = next(row for row in report["decision_gate"] if row["condition"] == "Team reviewed and approved")
    assert signed["verdict"] == "PASS" and signed["evidence"].startswith("approved by Anonymous at "), signed
    gates = {r["gate"] for r in report["results"]}
    assert {"lint", "lock_budget", "lock_waits", "query_latency", "contract_tests", "rollback_rehearsal",
            "schema_drift", "extensions", "privileges", "preconditions", "observability", "backup_verified",
            "restore_point", "watch_metric"} <= gates
    for name in ("report.json", "report.md", "report.html"):
        assert stat.S_IMODE(os.stat(run_dir / name).st_mode) == 0o600
    # the staging copy and the snapshot it came from are gone (the teardown of restore_staging);
    # the backup, production's data before the batch, stays
    assert ti_states["dry_run.drop_staging_copy"] == "success"
    assert not staging_exists(env) and not (run_dir / "snapshot").exists() and (run_dir / "backup").is_dir()
    # the watch window told the report tab where it stood after each poll, and that it ended
    watched = watch_status.read(run_dir)
    assert watched["ended"] and watched["line"] == "ended: passed", watched
    # the HTML report carries the evidence of this very run: every step, the locks the trace saw,
    # the plans that changed, the lint finding on the trigger
    page = (run_dir / "report.html").read_text()
    for step in sample_app_batch_steps():
        assert step in page
    assert "SHARE ROW EXCLUSIVE" in page and "ACCESS EXCLUSIVE" in page
    assert "Index Scan using idx_inventory_movement_history" in page
    assert "create-trigger-lock" in page
    assert (run_dir / "backup" / "toc.dat").is_file()
    assert stat.S_IMODE(os.stat(run_dir / "backup").st_mode) & 0o077 == 0

    # The same batch again: nothing to apply, said from the first task to the last — no copy, no
    # gate, nobody asked, production untouched, a green run, and Slack told.
    schema_after = pg_dump_schema(env.production)
    again = env.run("Approve")
    ti = states(again)
    assert str(again.state) == "success", {t: s for t, s in ti.items() if s != "skipped"}
    assert ti["prepare.plan_steps"] == "success" and ti["report_outcome"] == "success"
    assert {ti[t] for t in ("prepare.restore_staging", "prepare.lint_migrations", "dry_run.drop_staging_copy",
                            "decide.evaluate_gates",
                            "decide.approve_rollout", "production.take_backup", "production.apply_migrations",
                            "watch.watch_window")} == {"skipped"}
    assert not env.answered and pg_dump_schema(env.production) == schema_after  # nobody was asked
    said = env.slack.messages[2:]
    assert [m["text"] for m in said] == ["☑️ gonogo: nothing to apply: 20250115_recipe_fixes"], headers(said)
    assert "every enabled step (6) was applied before" in body(said[0]) and "Still disabled" in body(said[0])
    [again_dir] = [d for d in (env.artifacts / "gonogo_rollout").iterdir() if d != run_dir]
    report = json.loads((again_dir / "report.json").read_text())
    assert {r["subject"] for r in report["results"] if r["gate"] == "step_skipped"} == set(sample_app_batch_steps())
    assert all(dagrun.run_id in r["value"] for r in report["results"])  # each step: applied by the first run
    assert not [row for row in report["decision_gate"] if "not measured" in row["evidence"]], report["decision_gate"]
    page = ReportPage((again_dir / "report.html").read_text())
    assert page.word == "NOTHING TO APPLY" and "0 steps to apply, 6 applied before, 1 disabled" in page.body


def sample_app_batch_steps() -> list[str]:
    from gonogo.batch import load_batch

    return [s.name for s in load_batch("20250115_recipe_fixes").enabled_steps]


def test_rejected_rollout_leaves_production_untouched(rollout):
    env = rollout()
    schema_before = pg_dump_schema(env.production)

    dagrun = env.run("Reject")

    ti = states(dagrun)
    assert str(dagrun.state) == "failed"  # a rejection is not a quiet success
    assert ti["decide.approve_rollout"] == "success", env.why(dagrun)
    assert ti["production.apply_migrations"] == "skipped"
    assert ti["production.take_backup"] == "skipped"
    assert pg_dump_schema(env.production) == schema_before
    assert len(env.slack.messages) == 2, headers(env.slack.messages)  # the approval waiting, the rejection
    assert "reject" in env.slack.messages[1]["text"].lower()
    [page] = (env.artifacts / "gonogo_rollout").glob("*/report.html")
    assert ReportPage(page.read_text()).word == "REJECTED"


def test_the_approval_of_the_person_who_triggered_a_run_does_not_count(rollout, monkeypatch):
    """Four eyes. Here the run counts as triggered by the login the stand-in approver answers with
    (dag.test() has none), so its Approve is the triggerer's own: not counted, the same page asks
    again (Slack says why), and the next answer, a Reject, ends the run with production untouched."""
    from gonogo_airflow import approval

    env = rollout()
    schema_before = pg_dump_schema(env.production)
    monkeypatch.setattr(approval, "triggered_by", lambda context: "Anonymous")  # the API's login under all-admins

    dagrun = env.run({"decide.approve_rollout": ["Approve", "Reject"]})

    ti = states(dagrun)
    assert [a["choice"] for a in env.answered] == ["Approve", "Reject"]
    assert ti["decide.approve_rollout"] == "success" and ti["production.apply_migrations"] == "skipped"
    assert pg_dump_schema(env.production) == schema_before
    assert "**Sign-off:** one approval; who may approve: anyone Airflow's roles allow but Anonymous, who " \
           "triggered it (four eyes)." in env.answered[0]["body"]
    pending = [body(m) for m in env.slack.messages if "another approval needed" in m["text"]]
    assert pending and "the Approve of Anonymous does not count: Anonymous triggered this run" in pending[0], \
        headers(env.slack.messages)
    with env.production.connect("tests", guards=None) as conn:
        events = conn.execute("SELECT event, username FROM gonogo.events WHERE run_id = %s AND event IN "
                              "('approval_not_counted', 'reject', 'approve') ORDER BY id", [dagrun.run_id]).fetchall()
    assert events == [("approval_not_counted", "Anonymous"), ("reject", "Anonymous")]
    [report] = (env.artifacts / "gonogo_rollout").glob("*/report.json")
    signed = next(row for row in json.loads(report.read_text())["decision_gate"]
                  if row["condition"] == "Team reviewed and approved")
    assert signed["verdict"] == "FAIL" and signed["evidence"].startswith("rejected by Anonymous at "), signed

def _window_from(now, start_in: float, end_in: float):
    from datetime import timedelta

    from gonogo.apply.window import Window

    clock = lambda seconds: (now + timedelta(seconds=seconds)).strftime("%H:%M:%S")  # noqa: E731
    return Window.parse(clock(start_in), clock(end_in), "UTC")


def test_after_the_approval_production_waits_for_the_low_traffic_window(rollout, monkeypatch):
    """The window opens 4 s after the approval is answered: the run tells Slack it waits, defers
    (dag.test() runs the trigger in line), and the migrations start inside the window."""
    from gonogo.apply.window import utcnow
    from gonogo_airflow.rollout import Rollout

    env = rollout()
    opened = {}

    def window(self):  # set when the approval is answered: the window opens a moment later
        if self.task_id == "decide.evaluate_gates":
            return None  # the approval body, written before: no window yet
        if "window" not in opened:
            opened["window"] = _window_from(utcnow(), 4, 600)
        return opened["window"]
    monkeypatch.setattr(Rollout, "window", property(window))

    dagrun = env.run("Approve")

    assert str(dagrun.state) == "success", env.why(dagrun)
    waiting = [body(m) for m in env.slack.messages if "waiting for the low-traffic window" in body(m)]
    assert waiting and opened["window"].describe() in waiting[0]
    with env.production.connect("tests", guards=None) as conn:
        first = conn.execute("SELECT min(started_at) FROM gonogo.attempts").fetchone()[0]
    start, _ = opened["window"].around(first)
    assert first >= start  # the first migration started inside the window


def test_a_window_that_closed_before_the_migrations_stops_the_run_untouched(rollout, monkeypatch):
    """Inside the window when the production phase starts; closed by the time the migrations
    would start (a long backup, say): nothing is applied, Slack says "window missed"."""
    from gonogo.apply.window import utcnow
    from gonogo_airflow.rollout import Rollout

    env = rollout()
    schema_before = pg_dump_schema(env.production)
    asked = []

    def window(self):  # open for the wait, closed a minute ago when the migrations ask
        asked.append(self.task_id)
        return _window_from(utcnow(), -60, 600) if self.task_id.endswith("wait_for_window") \
            else _window_from(utcnow(), -600, -60)
    monkeypatch.setattr(Rollout, "window", property(window))

    dagrun = env.run("Approve")

    ti = states(dagrun)
    assert ti["production.wait_for_window"] == "success" and ti["production.apply_migrations"] == "failed"
    assert str(dagrun.state) == "failed" and pg_dump_schema(env.production) == schema_before
    missed = [body(m) for m in env.slack.messages if "window missed" in body(m)]
    assert missed and "Nothing was changed on production" in missed[0], headers(env.slack.messages)


def test_failed_gate_stops_before_the_approval(rollout):
    env = rollout(defects=["orphan_recipe_items"])
    schema_before = pg_dump_schema(env.production)
    with env.production.connect("tests", guards=None) as conn:
        orphans = conn.execute('SELECT count(*) FROM "RecipeItem" i WHERE NOT EXISTS '
                               '(SELECT 1 FROM "Recipe" r WHERE r.id = i."recipeId")').fetchone()[0]
    assert orphans > 0

    dagrun = env.run("Approve")

    ti = states(dagrun)
    assert str(dagrun.state) == "failed"
    assert ti["decide.evaluate_gates"] == "failed"
    assert ti["decide.approve_rollout"] == "upstream_failed"
    assert ti["production.apply_migrations"] == "upstream_failed"
    assert env.answered == []  # nobody was asked
    assert pg_dump_schema(env.production) == schema_before
    # Slack names the failed gate with the orphan count it measured.
    no_go = [m for m in env.slack.messages if "No-Go" in m["text"]]
    assert len(no_go) == 1, headers(env.slack.messages)
    assert "Orphans = 0" in body(no_go[0])
    assert f"{orphans} orphaned rows" in body(no_go[0])


def test_failed_production_step_rolls_back_to_the_pre_batch_schema(rollout):
    env = rollout()
    schema_before = pg_dump_schema(env.production)

    def production_changes_after_the_snapshot(detail):
        # Recipes whose category names no Category arrive after the staging copy was taken:
        # the rehearsal passed, but production's backfill cannot map them.
        with env.production.connect("tests", guards=None) as conn:
            sample_app.inject_defects(conn, ["unmapped_categories"])

    dagrun = env.run({"decide.approve_rollout": "Approve", "production.decide_on_failure": "Roll back"},
                     before_answer=production_changes_after_the_snapshot)

    ti = states(dagrun)
    assert str(dagrun.state) == "failed"
    assert ti["production.apply_migrations"] == "failed"
    assert ti["production.decide_on_failure"] == "success"
    assert ti["production.fix_forward"] == "skipped"
    assert ti["production.rollback_migrations"] == "success"
    # on-call was asked, and an unanswered question would have taken the batch's on_failure
    [asked] = [a for a in env.answered if a["task_id"] == "production.decide_on_failure"]
    assert asked["defaults"] == ["Roll back"]
    assert ti["watch.watch_window"] == "upstream_failed"
    assert pg_dump_schema(env.production) == schema_before
    texts = [m["text"] for m in env.slack.messages]
    assert len(texts) == 3, texts
    _, failed, rolled_back = env.slack.messages
    assert "20250115160000_fix_recipe_category_fields_backfill" in body(failed)
    # The rollback message lists each step undone, the failed one first, then in reverse.
    undone = [s for s in reversed(sample_app_batch_steps()[:5]) if s in body(rolled_back)]
    assert undone == list(reversed(sample_app_batch_steps()[:5]))
    # who chose the rollback, and when: in the audit trail and in the report's outcome
    with env.production.connect("tests", guards=None) as conn:
        [(who, at)] = conn.execute("SELECT username, detail->>'decided_at' FROM gonogo.events WHERE run_id = %s "
                                   "AND event = 'rollback'", [dagrun.run_id]).fetchall()
    assert who == "Anonymous" and at
    [page] = (env.artifacts / "gonogo_rollout").glob("*/report.html")
    assert "Anonymous chose to roll back" in ReportPage(page.read_text()).body
    # the final report has what production did: the steps applied, the failed one with its error
    report = json.loads(page.with_name("report.json").read_text())
    done = [r for r in report["results"] if r["phase"] == "production"]
    assert [r["subject"] for r in done if r["gate"] == "step_applied"] == sample_app_batch_steps()[:5]
    failed_step = "20250115160000_fix_recipe_category_fields_backfill"
    assert {r["subject"] for r in done if r["verdict"] == "FAIL"} == {failed_step}


def test_fix_forward_keeps_what_applied_and_a_new_run_resumes_after_it(rollout):
    env = rollout()
    unmapped = []

    def production_changes_after_the_snapshot(detail):
        with env.production.connect("tests", guards=None) as conn:
            sample_app.inject_defects(conn, ["unmapped_categories"])
            unmapped.extend(r[0] for r in conn.execute(
                'SELECT id FROM "Recipe" r WHERE category IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "Category" c '
                'WHERE c."companyId" = r."companyId" AND c.name = r.category)'))

    first = env.run({"decide.approve_rollout": "Approve", "production.decide_on_failure": "Fix forward"},
                    before_answer=production_changes_after_the_snapshot)

    ti = states(first)
    assert str(first.state) == "failed"  # not complete: fixing forward is still a failed rollout
    assert ti["production.fix_forward"] == "success" and ti["production.rollback_migrations"] == "skipped"
    steps = sample_app_batch_steps()
    with env.production.connect("tests", guards=None) as conn:
        recorded = history.read(conn, "20250115_recipe_fixes")
        events = [e["event"] for e in history.events(conn, "20250115_recipe_fixes")]
    assert {name: a.status for name, a in recorded.items()} == {
        **{name: "applied" for name in steps[:4]}, steps[4]: "failed"}
    assert "fix_forward" in events and "approve" in events and "restore_point" in events

    # the fix: the recipes whose category names no Category get one that exists
    with env.production.connect("tests", guards=None) as conn:
        conn.execute('UPDATE "Recipe" SET category = NULL WHERE id = ANY(%s)', [unmapped])
    env.slack.clear()

    second = env.run("Approve")

    assert str(second.state) == "success", states(second)
    with env.production.connect("tests", guards=None) as conn:
        recorded = history.read(conn, "20250115_recipe_fixes")
        by_run = {name: a.run_id for name, a in recorded.items()}
    assert {a.status for a in recorded.values()} == {"applied"}
    assert by_run[steps[0]] == first.run_id and by_run[steps[5]] == second.run_id  # resumed, not redone
    _, summary = env.slack.messages  # the approval waiting, the summary
    assert steps[0] not in body(summary) and steps[4] in body(summary)  # the summary names what this run applied


def test_a_watch_window_alarm_asks_on_call_and_rolls_back(rollout):
    """The batch is applied; as the watch window starts, two app sessions deadlock. The
    window raises the alarm (deadlocks: none tolerated), on-call answers Roll back, and the
    rollback brings production back to the pre-batch schema. (A latency regression raising the
    alarm is tests/integration/test_watch.py: there the baseline already had the dropped index.)"""
    env = rollout()
    schema_before = pg_dump_schema(env.production)
    threading.Thread(target=deadlock_in_the_watch_window, args=(env.production, "20250115_recipe_fixes"),
                     daemon=True).start()
    dagrun = env.run({"decide.approve_rollout": "Approve", "watch.decide_after_watch": "Roll back"},
                     monitoring_hours=30 / 3600)

    ti = states(dagrun)
    assert str(dagrun.state) == "failed"
    assert ti["watch.watch_window"] == "success" and ti["watch.decide_after_watch"] == "success"
    assert ti["production.rollback_migrations"] == "success" and ti["production.fix_forward"] == "skipped"
    assert pg_dump_schema(env.production) == schema_before
    alarm = next(m for m in env.slack.messages if "watch window alarm" in m["text"])
    assert "Deadlocks since the rollout" in body(alarm) and "threshold ≤ 0" in body(alarm)
    with env.production.connect("tests", guards=None) as conn:
        events = [e["event"] for e in history.events(conn, "20250115_recipe_fixes")]
    assert events.index("watch_started") < events.index("watch_alarm") < events.index("rollback")


def test_a_watch_window_task_that_fails_still_asks_on_call(rollout, monkeypatch):
    """The watch window's task fails, every try (a lost worker, say: not an alarm). Production has
    the batch and was not watched to the end: on-call is asked all the same, chooses Roll back,
    and production is back to the pre-batch schema; the report and Slack say why."""
    from gonogo_airflow.watch import WatchWindow

    def lost(self, context):
        raise RuntimeError("the worker running the watch window was lost")

    monkeypatch.setattr(WatchWindow, "execute", lost)  # dag.test() runs the tasks in this process
    env = rollout()
    schema_before = pg_dump_schema(env.production)
    dagrun = env.run({"decide.approve_rollout": "Approve", "watch.decide_after_watch": "Roll back"})

    ti = states(dagrun)
    assert str(dagrun.state) == "failed", env.why(dagrun)
    assert ti["watch.watch_window"] == "failed" and ti["watch.decide_after_watch"] == "success", env.why(dagrun)
    assert ti["production.rollback_migrations"] == "success" and ti["production.fix_forward"] == "skipped"
    assert pg_dump_schema(env.production) == schema_before
    asked = next(a for a in env.answered if a["task_id"] == "watch.decide_after_watch")
    assert "did not complete: its task failed" in asked["body"] and "Roll back what this run applied" in asked["body"], asked
    texts = [json.dumps(m.get("blocks") or m["text"]) for m in env.slack.messages]
    assert any("the worker running the watch window was lost" in t for t in texts), headers(env.slack.messages)
    asking = next(m for m in env.slack.messages if "watch window did not complete" in m["text"])
    assert "decide_after_watch/required_actions" in json.dumps(asking["blocks"])  # the button to the question
    page = (next((env.artifacts / "gonogo_rollout").iterdir()) / "report.html").read_text()
    assert "ROLLED BACK" in page and "the watch window did not complete; Anonymous chose to roll back" in page


def test_a_watch_task_tried_again_resumes_the_window_it_opened(rollout):
    """A watch task tried again (Airflow failed the first try: a lost worker, or its own race
    between a deferral and a trigger that fired at once) goes on with the window the first try
    opened, to the same deadline: it opens no second window of the run's monitoring_hours."""
    env = rollout()
    opened = {}

    def a_first_try_opened_the_window(detail):  # what the first try records before it defers
        now = datetime.now(timezone.utc)
        opened.update(started=now.isoformat(), deadline=(now + timedelta(seconds=20)).isoformat(), hours=0.01)
        with env.production.connect("tests", guards=None) as conn:
            history.ensure(conn)
            history.record(conn, detail["task_instance"]["dag_run_id"], "20250115_recipe_fixes", "watch_started",
                           detail=opened)

    dagrun = env.run(before_answer=a_first_try_opened_the_window, monitoring_hours=0.01)

    assert str(dagrun.state) == "success", env.why(dagrun)
    watched = watch_status.read(next((env.artifacts / "gonogo_rollout").iterdir()))
    assert (watched["started"], watched["deadline"]) == (opened["started"], opened["deadline"]) and watched["ended"]
    with env.production.connect("tests", guards=None) as conn:
        events = [e for e in history.events(conn, "20250115_recipe_fixes") if e["run_id"] == dagrun.run_id]
    assert [e["event"] for e in events].count("watch_started") == 1


def test_unreachable_production_fails_with_a_clear_message(rollout, monkeypatch):
    env = rollout()
    closed = env.production.port + 1 if env.production.port < 65535 else 1
    monkeypatch.setenv("AIRFLOW_CONN_GONOGO_PRODUCTION", json.dumps(
        {"conn_type": "postgres", "host": "127.0.0.1", "port": closed, "schema": env.production.dbname,
         "login": env.production.user, "password": env.production.password}))

    dagrun = env.run("Approve")

    assert str(dagrun.state) == "failed"
    assert states(dagrun)["prepare.plan_steps"] == "failed"  # the first task that reads production
    assert len(env.slack.messages) == 1
    text = body(env.slack.messages[0])
    assert "plan_steps" in text and "127.0.0.1" in text
    assert env.production.password not in json.dumps(env.slack.messages)


def test_a_task_that_died_without_telling_is_told_by_the_end_of_the_run(rollout, monkeypatch):
    """kill -9, out of memory, a lost worker: the task's failure callback never runs. Here the
    callback is made to do nothing (dag.test() runs tasks in its own process, which cannot be
    killed): report_outcome, which runs whatever happened, tells on-call about the silent task."""
    from gonogo_airflow import notify

    env = rollout()
    closed = env.production.port + 1 if env.production.port < 65535 else 1
    monkeypatch.setenv("AIRFLOW_CONN_GONOGO_PRODUCTION", json.dumps(
        {"conn_type": "postgres", "host": "127.0.0.1", "port": closed, "schema": env.production.dbname,
         "login": env.production.user, "password": env.production.password}))
    monkeypatch.setattr(notify, "_alert", lambda rollout, error: None)
    monkeypatch.setattr(notify, "mark_alerted", lambda rollout: None)

    dagrun = env.run("Approve")

    assert states(dagrun)["prepare.plan_steps"] == "failed"
    [told] = [body(m) for m in env.slack.messages]
    assert "prepare.plan_steps" in told and "failed without its own alert" in told and "kill -9" in told


def test_malformed_batch_fails_before_production_is_read(rollout, monkeypatch, tmp_path):
    env = rollout()
    root = tmp_path / "batches"
    shutil.copytree(SHIPPED_BATCHES.parent, tmp_path, dirs_exist_ok=True)  # batches/ and sql/
    missing = next((root / "20250115_recipe_fixes" / "rollbacks").glob("20250115140000_*"))
    missing.unlink()
    monkeypatch.setenv("GONOGO_BATCHES_DIR", str(root))

    dagrun = env.run("Approve")

    ti = states(dagrun)
    assert str(dagrun.state) == "failed"
    assert ti["prepare.validate_batch"] == "failed"
    assert ti["prepare.restore_staging"] == "upstream_failed"  # production not even read
    assert not list(env.artifacts.rglob("toc.dat"))
    assert len(env.slack.messages) == 1
    assert missing.name in body(env.slack.messages[0])
    # no report was written, so Slack offers none
    buttons = [b["text"]["text"] for block in env.slack.messages[0]["blocks"] if block["type"] == "actions"
               for b in block["elements"]]
    assert "Open the report" not in buttons and "Open the task" in buttons


def test_a_timeout_outside_its_range_stops_the_run_before_production_is_read(rollout):
    """5ms passes the form's pattern (only 0 does not): the first task refuses it with the range."""
    env = rollout()
    schema_before = pg_dump_schema(env.production)

    dagrun = env.run("Approve", lock_attempt_timeout="5ms")

    ti = states(dagrun)
    assert ti["prepare.validate_batch"] == "failed" and ti["prepare.restore_staging"] == "upstream_failed"
    assert pg_dump_schema(env.production) == schema_before
    [alert] = env.slack.messages
    assert "lock_attempt_timeout = '5ms' is not allowed: it is below the floor" in body(alert)
    assert "from 10ms to 30s" in body(alert)


def test_a_dry_run_task_that_crashes_still_gives_a_no_go_report_naming_it(rollout, monkeypatch):
    """The rehearsal dies of an error no code of gonogo expects: the report is still written with
    everything measured before it, and Slack says No-Go naming the task, besides its own alert."""
    from gonogo.rehearsal import dryrun

    env = rollout()
    schema_before = pg_dump_schema(env.production)

    def crash(*args, **kwargs):
        raise KeyError("an unusual failure")
    monkeypatch.setattr(dryrun, "rehearse_rollbacks", crash)

    dagrun = env.run("Approve")

    ti = states(dagrun)
    assert ti["dry_run.rehearse_rollbacks"] == "failed" and ti["dry_run.compare_observability"] == "upstream_failed"
    assert ti["decide.evaluate_gates"] == "failed" and ti["decide.approve_rollout"] == "upstream_failed"
    assert env.answered == [] and pg_dump_schema(env.production) == schema_before
    assert ti["dry_run.drop_staging_copy"] == "success" and not staging_exists(env)  # a teardown: whatever happened
    [run_dir] = (env.artifacts / "gonogo_rollout").iterdir()
    report = json.loads((run_dir / "report.json").read_text())
    crashed = {r["subject"]: r for r in report["results"] if r["gate"] == "task_finished"}
    assert set(crashed) == {"dry_run.rehearse_rollbacks", "dry_run.compare_observability"}
    assert all(r["verdict"] == "FAIL" for r in crashed.values())
    assert any(r["gate"] == "step_applied" and r["phase"] == "dry_run" for r in report["results"])  # kept
    alerts = {headers([m])[0]: body(m) for m in env.slack.messages}
    [task_failed] = [text for header, text in alerts.items() if "task failed" in header]
    assert "rehearse_rollbacks" in task_failed and "KeyError" in task_failed and "an unusual failure" in task_failed
    [no_go] = [text for header, text in alerts.items() if "No-Go" in header]
    assert "dry_run.rehearse_rollbacks" in no_go


def test_the_failure_alert_and_the_outcome_reach_slack_when_writing_them_fails(rollout, monkeypatch):
    """Nothing about the run can be read (every attempt raises): each failing task and the end of
    the run still reach on-call, from the run's ids alone."""
    from gonogo_airflow.rollout import Rollout

    env = rollout()

    def unreadable(self):
        raise ValueError("the run cannot be read")
    monkeypatch.setattr(Rollout, "info", property(unreadable))

    dagrun = env.run("Approve")

    ti = states(dagrun)
    assert ti["decide.evaluate_gates"] == "failed" and ti["report_outcome"] == "failed"
    texts = [body(m) for m in env.slack.messages]
    assert len(texts) == 2, headers(env.slack.messages)
    assert "decide.evaluate_gates" in texts[0] and "ValueError: the run cannot be read" in texts[0]
    assert "report_outcome" in texts[1] and "outcome and final report could not be written" in texts[1]


def test_every_tasks_application_name_keeps_its_task_whole(rollout_dag):
    """PostgreSQL keeps 63 characters of application_name: with the run's key, not its id, no
    task's name is cut, and the key maps back to the run."""
    from gonogo.apply.rollout_lock import run_key
    from gonogo_airflow.rollout import Rollout

    run_id = "scheduled__2026-12-06T20:10:41.321859+00:00"
    for task_id in rollout_dag.task_ids:
        name = "gonogo/" + Rollout(dag_id=rollout_dag.dag_id, run_id=run_id, task_id=task_id, params={}, ti=None).app
        assert len(name) <= 63 and name.endswith("/" + task_id) and run_key(run_id) in name, name


@pytest.mark.parametrize("which", ["gonogo_rollout", "a batch's own DAG"])
def test_every_task_id_the_adapter_reads_is_a_task_of_the_dag(which, rollout_dag, batch_dag):
    """gonogo_airflow.ids holds the names one task reads another's result by: each is a task of
    the DAG (of both DAGs), and the production tasks a stopped run is judged by are in the order
    they run."""
    from gonogo_airflow import ids

    dag = rollout_dag if which == "gonogo_rollout" else batch_dag
    named = {value for name, value in vars(ids).items() if name.isupper() and isinstance(value, str) and "." in value}
    assert len(named) >= 19 and named <= set(dag.task_ids), named - set(dag.task_ids)
    order = [t for t in dag.topological_sort() if t.task_id in ids.PRODUCTION_TASKS]
    assert tuple(t.task_id for t in order) == ids.PRODUCTION_TASKS


def test_dag_folder_has_no_import_errors(rollout_dag):  # rollout_dag: the metadata database is migrated
    airflow = Path(sys.executable).with_name("airflow")
    out = subprocess.run([str(airflow), "dags", "list-import-errors", "--local"],
                         capture_output=True, text=True, env=os.environ)
    assert out.returncode == 0, out.stdout + out.stderr
