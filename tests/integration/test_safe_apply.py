"""Safe apply on production, with real concurrent sessions: lock timeouts with retries while
the app keeps querying, a blocker that outlasts the retries, an interrupted CONCURRENTLY
build, an edited migration, a second rollout, and a crashed run that resumes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import sample_app
from gonogo.apply import history, production, rollout_lock
from gonogo.batch import load_batch
from gonogo.context import RunContext
from gonogo.errors import StepFailed
from gonogo.results import Verdict
from gonogo.postgres.retry import RetryPolicy
from gonogo.postgres.schema import diff, read_schema
from gonogo.postgres.target import SessionGuards
from helpers import copy_batch

BATCH = load_batch("20250115_recipe_fixes")
STEP = {s.order: s for s in BATCH.steps}


def quiet(_):
    pass


def context(target, batch=BATCH, run_id="run_1", policy=RetryPolicy(), tmp=Path("/nonexistent")) -> RunContext:
    return RunContext(batch=batch, production=target, staging=target, run_id=run_id,
                      app=f"{rollout_lock.run_key(run_id)}/production.apply_migrations",
                      folder=tmp, guards=SessionGuards(lock_timeout=policy.lock_timeout), policy=policy)


def only(batch, *orders):
    """The batch with only these steps enabled (and the rest disabled, with a reason)."""
    import dataclasses

    return dataclasses.replace(batch, steps=tuple(
        s if s.order in orders else dataclasses.replace(s, enabled=False, disabled_reason="not in this test")
        for s in batch.steps))


@pytest.fixture
def app(prod_db):
    sample_app.load(prod_db, scale=0.05)
    return prod_db


class Blocker:
    """A session holding ACCESS SHARE on "Recipe" in an open transaction (a long report, say)."""

    def __init__(self, target, seconds: float):
        self.target, self.seconds = target, seconds
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.holding = threading.Event()

    def _run(self):
        with self.target.connect("tests/blocker", guards=None, autocommit=False) as conn:
            conn.execute('SELECT count(*) FROM "Recipe"')
            self.holding.set()
            time.sleep(self.seconds)
            conn.rollback()

    def __enter__(self):
        self.thread.start()
        assert self.holding.wait(10)
        return self

    def __exit__(self, *exc):
        self.thread.join()


class AppReads:
    """The app reading "Recipe" in a loop; records how long each read took."""

    def __init__(self, target):
        self.target, self.latencies, self.stop = target, [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        with self.target.connect("tests/app", guards=None) as conn:
            while not self.stop.is_set():
                started = time.monotonic()
                conn.execute('SELECT "name" FROM "Recipe" WHERE "id" = 1').fetchall()
                self.latencies.append(time.monotonic() - started)
                time.sleep(0.01)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def test_a_blocked_step_retries_while_the_app_never_waits_longer_than_the_lock_timeout(app):
    """Migration 3 needs ACCESS EXCLUSIVE on "Recipe" for a moment; a 2.5 s report holds it back.
    Each attempt waits at most 250 ms (the app queues behind it only that long), backs off, and
    the step succeeds once the report ends."""
    ctx = context(app, only(BATCH, 3), policy=RetryPolicy(lock_timeout="250ms", attempts=30, first_backoff=0.1,
                                                            max_backoff=0.4))
    with AppReads(app) as reads, Blocker(app, seconds=2.5):
        started = time.monotonic()
        run = production.apply(ctx, log=quiet)
        took = time.monotonic() - started
    assert run.ok, run.error
    applied = next(r for r in run.results if r.gate == "step_applied")
    attempts = max(d.get("attempts", 1) for d in applied.details)
    assert attempts > 1  # it had to retry
    assert took >= 2.0    # and it only got through once the blocker was gone
    # the app kept being served: no read waited anywhere near the blocker's 2.5 s
    assert len(reads.latencies) > 20
    assert max(reads.latencies) < 1.0, max(reads.latencies)


def test_a_blocker_that_outlasts_the_retries_fails_the_step_cleanly_and_its_rollback_runs(app):
    ctx = context(app, only(BATCH, 1, 3), policy=RetryPolicy(lock_timeout="100ms", attempts=3, first_backoff=0.05))
    with app.connect("tests", guards=None) as conn:
        before = read_schema(conn)
    with Blocker(app, seconds=6):
        run = production.apply(ctx, log=quiet)
        assert not run.ok and run.failed_step == STEP[3].name
        assert "55P03" in run.error and "after 3 attempts" in run.error
    results = production.rollback(ctx, {"schema": before.to_json(), "in_flux": []}, log=quiet)
    assert [r.subject for r in results if r.gate == "rollback_applied"] == [STEP[3].name, STEP[1].name]
    with app.connect("tests", guards=None) as conn:
        assert diff(before, read_schema(conn)) == []
        steps = history.read(conn, BATCH.id)
    assert {steps[STEP[1].name].status, steps[STEP[3].name].status} == {"rolled_back"}


def test_an_index_build_killed_halfway_is_found_invalid_and_rebuilt(app):
    with app.connect("tests", guards=None) as conn:  # SalesRecord large enough to kill mid-build
        conn.execute('INSERT INTO "SalesRecord" ("companyId", "recipeId", "date", "quantity", "revenue") '
                     'SELECT "companyId", "recipeId", "date" + g * interval \'1 day\', "quantity", "revenue" '
                     'FROM "SalesRecord", generate_series(1, 150) g')
    ctx = context(app, only(BATCH, 4))
    killer_done = threading.Event()

    def kill_the_build():
        with app.connect("tests/killer", guards=None) as conn:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                # past 'initializing': the index's catalog entry is committed (CONCURRENTLY's first
                # transaction), so the kill leaves it behind; killed earlier, nothing is left
                row = conn.execute("SELECT pid FROM pg_stat_progress_create_index "
                                   "WHERE relid = '\"SalesRecord\"'::regclass AND phase <> 'initializing'").fetchone()
                if row:
                    conn.execute("SELECT pg_terminate_backend(%s)", [row[0]])
                    break
                time.sleep(0.01)
        killer_done.set()

    threading.Thread(target=kill_the_build, daemon=True).start()
    stopped = production.apply(ctx, log=quiet)
    assert not stopped.ok and "SQLSTATE 57P01" in stopped.error, stopped.error  # the server's reason
    assert killer_done.wait(60)
    with app.connect("tests", guards=None) as conn:
        valid = conn.execute("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                             "WHERE c.relname = 'idx_sales_record_analytics'").fetchone()
        assert valid == (False,)  # left behind, invalid; IF NOT EXISTS alone would keep it so
        assert history.read(conn, BATCH.id)[STEP[4].name].status == "running"

    lines = []
    run = production.apply(ctx, log=lines.append)  # the re-run

    assert run.ok, run.error
    assert any("idx_sales_record_analytics exists but is INVALID" in line for line in lines)
    with app.connect("tests", guards=None) as conn:
        assert conn.execute("SELECT bool_and(i.indisvalid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                            "WHERE c.relname LIKE 'idx_%'").fetchone()[0] is True


def test_an_applied_migration_edited_since_is_refused(app, tmp_path):
    assert production.apply(context(app, only(BATCH, 1, 2)), log=quiet).ok
    folder = copy_batch(tmp_path)
    edited = folder / "migrations" / f"{STEP[2].name}.sql"
    edited.write_text(edited.read_text() + "\n-- a quick fix, straight in the applied file\n")
    batch = load_batch(folder.name, root=folder.parent)

    run = production.apply(context(app, only(batch, 1, 2, 3), run_id="run_2"), log=quiet)

    assert run.failed_step == STEP[2].name
    [refused] = [r for r in run.results if r.gate == "applied_history"]
    assert edited.name in refused.message
    assert STEP[2].forward.sha256 in refused.message and batch.step(STEP[2].name).forward.sha256 in refused.message
    with app.connect("tests", guards=None) as conn:  # and nothing after it ran
        assert conn.execute("SELECT count(*) FROM pg_constraint WHERE conname = 'recipe_selling_price_positive'"
                            ).fetchone()[0] == 0

    # One plan says it for every phase: the history gate, the drift gate's split, the apply above
    from gonogo.gates.applied_history import applied_history

    batch = only(batch, 1, 2, 3)
    with app.connect("tests", guards=None) as conn:
        history.start(conn, batch, batch.step(STEP[3].name), "run_3")  # a crash left step 3 running
        planned = history.plan(batch, history.read(conn, batch.id))
        gate = applied_history(conn, batch)
        flux = history.in_flux(conn, batch)
        split = history.split(batch, history.read(conn, batch.id))
    assert [(p.step.name, p.action, p.in_flux) for p in planned] == [
        (STEP[1].name, history.SKIP, False), (STEP[2].name, history.REFUSE, False), (STEP[3].name, history.RUN, True)]
    assert gate.verdict is Verdict.FAIL and gate.message == planned[1].refusal == refused.message
    assert [row["will"] for row in gate.details] == ["skip", "edited", "run"]
    assert [[s.name for s in part] for part in split] == [
        [STEP[1].name], [STEP[2].name, STEP[3].name]]
    assert flux == {o.name for o in batch.step(STEP[3].name).creates()} and flux


def test_a_second_rollout_is_refused_and_told_which_run_holds_the_database(app):
    with app.connect("other_run_42/apply_migrations", guards=None) as other:
        pid = other.info.backend_pid
        assert other.execute("SELECT pg_try_advisory_lock(%s, %s)",
                             [rollout_lock.CLASSID, rollout_lock.OBJID]).fetchone()[0]
        with pytest.raises(StepFailed) as refused:
            production.apply(context(app), log=quiet)
    assert "run other_run_42 (task apply_migrations)" in str(refused.value)
    assert f"SELECT pg_terminate_backend({pid})" in str(refused.value)  # and how to end it
    with app.connect("tests", guards=None) as conn:
        assert history.read(conn, BATCH.id) == {}  # nothing was started


def test_the_rollout_lock_holds_the_database_between_a_runs_tasks(app):
    """A run takes the lock before its backup (the setup) and gives it back at the end (the
    teardown): between its tasks, another run's guards check, apply and rollback are refused,
    naming the run, its batch and how to give the database back; the holder's own tasks go on."""
    mine, theirs = context(app, only(BATCH, 1)), context(app, only(BATCH, 1), run_id="run_2")
    taken = production.take_lock(mine, log=quiet)
    assert taken["run_id"] == "run_1"
    assert production.take_lock(mine, log=quiet)["taken_at"] == taken["taken_at"]  # a cleared task: the same lock

    for refused_task in (lambda: production.check_guards(theirs, log=quiet), lambda: production.take_lock(theirs),
                         lambda: production.apply(theirs, log=quiet)):
        with pytest.raises(StepFailed) as refused:
            refused_task()
        assert f"run run_1 of batch {BATCH.id}" in str(refused.value) and refused.value.before_changes
        assert "DELETE FROM gonogo.rollout_lease WHERE run_id = 'run_1'" in str(refused.value)
    with app.connect("tests", guards=None) as conn:
        assert history.read(conn, BATCH.id) == {}  # the other run started nothing

    assert production.apply(mine, log=quiet).ok  # the holder's own tasks go on
    assert production.release_lock(theirs, log=quiet) is False  # only the holder gives it back
    assert production.release_lock(mine, log=quiet) is True
    production.check_guards(theirs, log=quiet)  # free again
    with app.connect("tests", guards=None) as conn:
        events = [e["event"] for e in history.events(conn, BATCH.id)]
    assert events.count("lock_taken") == 1 and events.count("lock_released") == 1


def test_one_step_applied_and_rolled_back_alone_as_a_batch_dags_nodes_do(app):
    """production.apply(step=) and production.rollback(step=): a migration's own node applies
    only its step; the rollback nodes run in reverse, each undoing its step if this run applied
    it, and say "nothing to undo" for the others; restored() then proves the pre-batch schema."""
    ctx = context(app, only(BATCH, 1, 2, 3))
    with app.connect("tests", guards=None) as conn:
        before = read_schema(conn, BATCH.history_objects)
    for order in (1, 2):
        run = production.apply(ctx, log=quiet, step=STEP[order].name)
        assert run.ok and run.applied == [STEP[order].name]
    [left] = production.apply(ctx, log=quiet, step=STEP[5].name).results  # disabled in this run
    assert left.value == "disabled in this run: not applied"
    with app.connect("tests", guards=None) as conn:
        assert {s: a.status for s, a in history.read(conn, BATCH.id).items()} == {
            STEP[1].name: "applied", STEP[2].name: "applied"}

    undone = {order: production.rollback(ctx, {"schema": before.to_json()}, log=quiet, step=STEP[order].name)
              for order in (3, 2, 1)}
    assert [r.value for r in undone[3]] == ["not applied by this run: nothing to undo"]
    assert [r.gate for r in undone[2]] == ["rollback_applied"] and undone[2][0].verdict == Verdict.PASS
    assert production.restored(ctx, {"schema": before.to_json()}).verdict == Verdict.PASS
    with app.connect("tests", guards=None) as conn:
        assert {a.status for a in history.read(conn, BATCH.id).values()} == {"rolled_back"}


def test_a_session_a_dead_task_left_holding_the_lock_is_ended_by_the_runs_next_task(app):
    """psql stands in for the task: it takes the rollout lock as gonogo's apply would, starts a
    long statement, and is killed -9. The server goes on with the statement and keeps the lock;
    the run's next task finds the session by its application_name, ends it, says so, and goes on."""
    import os
    import signal
    import subprocess

    from gonogo.postgres.pgbin import find_bindir

    ctx = context(app, only(BATCH, 1))
    env = {**os.environ, **app.libpq_env(), "PGAPPNAME": f"gonogo/{rollout_lock.run_key(ctx.run_id)}/production.x"}
    psql = subprocess.Popen([str(find_bindir() / "psql"), "-X", "-c",
                             f"SELECT pg_advisory_lock({rollout_lock.CLASSID}, {rollout_lock.OBJID}), pg_sleep(120)"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with app.connect("tests", guards=None) as conn:
        deadline = time.monotonic() + 10
        while rollout_lock.holder(conn) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "pg_sleep(120)" in rollout_lock.holder(conn)
        os.kill(psql.pid, signal.SIGKILL)
        psql.wait()
        orphan = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                              [env["PGAPPNAME"]]).fetchone()[0]  # the server does not notice yet
    lines = []

    run = production.apply(ctx, log=lines.append)

    assert run.ok, run.error
    [ended] = [r for r in run.results if r.gate == production.ORPHANS]
    assert ended.verdict is Verdict.WARN and ended.value == "1 session ended"
    assert ended.details[0]["pid"] == orphan and ended.details[0]["ended"] in ("cancelled", "terminated")
    assert "pg_sleep(120)" in ended.message and any("a dead task of this run left" in line for line in lines)
    with app.connect("tests", guards=None) as conn:
        assert not conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [orphan]).fetchone()[0]
        [event] = [e for e in history.events(conn, BATCH.id) if e["event"] == "orphan_ended"]
        assert event["detail"]["pid"] == orphan and event["run_id"] == ctx.run_id


def test_a_run_killed_mid_batch_resumes_where_it_stopped(app):
    class Killed(BaseException):
        pass

    def crash_in_step_3(line):
        if f"{STEP[3].name}.sql:" in line:
            raise Killed()

    ctx = context(app)
    with pytest.raises(Killed):
        production.apply(ctx, log=crash_in_step_3)
    with app.connect("tests", guards=None) as conn:
        recorded = history.read(conn, BATCH.id)
    assert {name: a.status for name, a in recorded.items()} == {
        STEP[1].name: "applied", STEP[2].name: "applied", STEP[3].name: "running"}

    run = production.apply(context(app, run_id="run_2"), log=quiet)

    assert run.ok, run.error
    assert run.skipped == [STEP[1].name, STEP[2].name]
    assert run.applied == [s.name for s in BATCH.enabled_steps][2:]
    with app.connect("tests", guards=None) as conn:
        statuses = {a.status for a in history.read(conn, BATCH.id).values()}
        events = [e["event"] for e in history.events(conn, BATCH.id)]
    assert statuses == {"applied"}
    assert events.count("skip") == 0 and events.count("applied") == len(BATCH.enabled_steps)
    # every attempt is kept: the crashed one, and the one that resumed it, pointing at it
    with app.connect("tests", guards=None) as conn:
        tries = [a for a in history.attempts(conn, BATCH.id) if a["step"] == STEP[3].name]
    crashed, resumed = tries
    assert (crashed["run_id"], crashed["status"], crashed["detail"]["resumed_by_run"]) == ("run_1", "crashed", "run_2")
    assert (resumed["run_id"], resumed["status"], resumed["resumes"]) == ("run_2", "applied", crashed["id"])
    assert resumed["finished_at"] is not None and crashed["finished_at"] <= resumed["started_at"]


def test_a_session_the_server_ends_is_reported_with_its_reason_and_the_next_run_resumes(app, tmp_path):
    """An administrator terminates the apply's session mid-statement: the step fails with what the
    server said (57P01), not 'the connection is closed'; the attempt stays 'running' in the
    history, and the next run resumes it as a new attempt pointing at the crashed one."""
    folder = tmp_path / "lost"
    for rel, text in {"migrations/s1.sql": "CREATE TABLE IF NOT EXISTS lost_item (id int);\nSELECT pg_sleep(3);\n",
                      "rollbacks/s1_rollback.sql": "DROP TABLE lost_item;\n"}.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    (folder / "manifest.yaml").write_text(
        "id: lost\ntitle: a session ended by the server\nsteps: [{order: 1, file: migrations/s1.sql, "
        "rollback: rollbacks/s1_rollback.sql, kind: schema}]\n")
    batch = load_batch("lost", root=tmp_path)

    def terminate():
        with app.connect("tests", guards=None) as conn:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query = 'SELECT pg_sleep(3)' AND state = 'active'").fetchall():
                time.sleep(0.05)
    killer = threading.Thread(target=terminate)
    killer.start()
    run = production.apply(context(app, batch), log=quiet)
    killer.join()

    assert not run.ok
    assert "SQLSTATE 57P01" in run.error and "terminating connection due to administrator command" in run.error
    assert "the connection is closed" not in run.error and "the next run resumes it" in run.error
    again = production.apply(context(app, batch, run_id="run_2"), log=quiet)
    assert again.ok, again.error
    with app.connect("tests", guards=None) as conn:
        crashed, resumed = history.attempts(conn, "lost")
    assert (crashed["status"], resumed["status"], resumed["resumes"]) == ("crashed", "applied", crashed["id"])
