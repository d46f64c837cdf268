"""The batched backfill of the seed's step 5 (category -> categoryId) on the recipe app: it maps
every row, changes nothing else, resumes after an interruption or a killed session, finishes
under a concurrent writer, retries a batch whose rows are locked, and its checksum proof catches
a change beyond the mapped column. Everything is checked with the tests' own SQL."""

from __future__ import annotations

import dataclasses
import math
import random
import re
import threading
import time

import pytest

import sample_app
from gonogo.apply import history
from gonogo.apply.backfill import LOG_EVERY_SECONDS, read_progress, run_backfill
from gonogo.batch import load_batch
from gonogo.postgres.execute import run_script
from gonogo.postgres.problems import verify
from gonogo.results import Verdict
from gonogo.postgres.retry import RetryPolicy
from gonogo.apply.steps import apply_step
from gonogo.postgres.target import SessionGuards

SCALE = 0.2  # 1,000 recipes
BATCH = load_batch("20250115_recipe_fixes")
STEP = next(s for s in BATCH.steps if s.backfill)
FAST = RetryPolicy(first_backoff=0.1, max_backoff=0.5, attempts=10)
UNMAPPED = 'SELECT count(*) FROM "Recipe" WHERE "category" IS NOT NULL AND "categoryId" IS NULL'


class Lines(list):
    """A log that keeps its lines."""

    def __call__(self, line: str) -> None:
        self.append(line)

    def progress(self) -> list[str]:
        return [line for line in self if "rows/s" in line]


def sized(batch_size: int, pause_ms: int = 0):
    """Step 5 with another batch size and pause (the manifest's values are for production)."""
    return dataclasses.replace(STEP, backfill=dataclasses.replace(STEP.backfill, batch_size=batch_size,
                                                                   pause_ms=pause_ms))


def backfill(conn, step=STEP, *, log=None, policy=FAST, run_id="tests", log_every=math.inf):
    """log_every: by default a progress line at every 10 % only, whatever the machine's speed."""
    return run_backfill(conn, step, run_id=run_id, policy=policy, log=Lines() if log is None else log,
                        phase="dry_run", log_every=log_every)


def prepare(target, conn, scale: float = SCALE) -> int:
    """The app's data, gonogo's schema and step 5's file (trigger, no backfill); returns the
    number of recipes the backfill has to map."""
    sample_app.load(target, scale=scale)
    history.ensure(conn)
    run_script(conn, STEP.forward)
    to_map = conn.execute(UNMAPPED).fetchone()[0]
    assert to_map > 0
    return to_map


def others(conn) -> dict[int, str]:
    """{id: md5 of every column but categoryId} of each recipe, computed without gonogo's code."""
    return dict(conn.execute(
        """SELECT "id", md5((to_jsonb(r) - 'categoryId')::text) FROM "Recipe" r""").fetchall())


def mapped_right(conn) -> bool:
    """Every recipe with a category carries the id of its company's category of that name."""
    wrong = conn.execute(
        'SELECT count(*) FROM "Recipe" r LEFT JOIN "Category" c ON c."id" = r."categoryId" '
        'AND c."companyId" = r."companyId" AND c."name" = r."category" '
        'WHERE r."category" IS NOT NULL AND c."id" IS NULL').fetchone()[0]
    return wrong == 0


# -- the whole run ---------------------------------------------------------------------------------

def test_maps_every_recipe_in_batches_and_changes_nothing_else(prod_db, prod_conn):
    to_map = prepare(prod_db, prod_conn)
    recipes = prod_conn.execute('SELECT count(*) FROM "Recipe"').fetchone()[0]
    before = others(prod_conn)
    log = Lines()

    result = backfill(prod_conn, sized(40), log=log)

    assert result.verdict is Verdict.PASS, result.message
    assert (result.gate, result.subject, result.phase) == ("backfill", STEP.name, "dry_run")
    assert re.fullmatch(rf"{to_map} rows mapped in 25 batches, \d+\.\d\d s", result.value), result.value
    [details] = result.details
    assert details["batches"] == 25 and details["rows"] == recipes and details["rows_mapped"] == to_map
    assert details["resumed_from"] is None and details["lock_retries"] == 0
    assert prod_conn.execute(UNMAPPED).fetchone()[0] == 0 and mapped_right(prod_conn)
    assert others(prod_conn) == before  # every row still there, every other column as it was
    assert verify(prod_conn, STEP.verify, phase="dry_run", subject=STEP.name).verdict is Verdict.PASS

    # progress in the log: a line at each 10 % of the rows (batches of 40 reach 10 % with the third)
    lines = log.progress()
    assert len(lines) == 10, log
    assert lines[0].startswith(f"    backfill Recipe.categoryId: 120 of {recipes} rows (12 %), ")
    assert re.search(r"mapped in 3 batches, \d+ rows/s, about \d+(\.\d)? (s|min|h) left$", lines[0]), lines[0]
    assert lines[-1].endswith("done") and f"{recipes} of {recipes} rows (100 %)" in lines[-1]

    # recorded: in the progress table (finished) and as an event in the audit trail
    assert read_progress(prod_conn, STEP).finished
    assert read_progress(prod_conn, STEP).rows_done == to_map
    [event] = [e for e in history.events(prod_conn, BATCH.id) if e["event"] == "backfill"]
    assert event["step"] == STEP.name and event["detail"]["verdict"] == "PASS"

    # a finished backfill does nothing more
    again = backfill(prod_conn, sized(40))
    assert again.verdict is Verdict.PASS and again.details[0]["batches"] == 0
    assert again.value == f"nothing left: {to_map} rows mapped by an earlier run"


def test_progress_lines_say_the_time_left_and_are_rate_limited(prod_db, prod_conn):
    """200 batches of 5 rows: a line at each 10 % and at most one per LOG_EVERY_SECONDS in
    between, not one per batch; each line but the last says the time left."""
    prepare(prod_db, prod_conn)
    log = Lines()
    result = backfill(prod_conn, sized(5), log=log, log_every=LOG_EVERY_SECONDS)
    assert result.verdict is Verdict.PASS, result.message
    [details] = result.details
    assert details["batches"] == 200
    lines = log.progress()
    assert 10 <= len(lines) <= 10 + details["seconds"] / LOG_EVERY_SECONDS + 1, log
    percents = [int(re.search(r"\((\d+) %\)", line)[1]) for line in lines]
    assert percents == sorted(percents) and percents[-1] == 100
    assert all(any(10 * k <= p < 10 * (k + 1) for p in percents) for k in range(1, 11)), percents  # every tenth
    assert all(re.search(r", \d+ rows/s, about \d+(\.\d)? (s|min|h) left$", line) for line in lines[:-1]), lines
    assert lines[-1].endswith(", done")


def test_a_tiny_interval_logs_every_batch_with_the_time_left(prod_db, prod_conn):
    """log_every=0: a line after each of the 50 batches, not only at each 10 %."""
    prepare(prod_db, prod_conn)
    log = Lines()
    result = backfill(prod_conn, sized(20), log=log, log_every=0)
    assert result.details[0]["batches"] == 50
    lines = log.progress()
    assert len(lines) == 50, log
    assert all(re.search(rf"\({2 * (i + 1)} %\), \d+ mapped in {i + 1} batch(es)?, \d+ rows/s, about .+ left$", line)
               for i, line in enumerate(lines[:-1])), lines


def test_an_interrupted_run_resumes_after_its_last_batch(prod_db, prod_conn):
    to_map = prepare(prod_db, prod_conn)
    recipes = prod_conn.execute('SELECT count(*) FROM "Recipe"').fetchone()[0]

    def stop_at_first_progress_line(line: str) -> None:
        if "rows/s" in line:
            raise KeyboardInterrupt("the worker was stopped")

    with pytest.raises(KeyboardInterrupt):
        backfill(prod_conn, sized(20), log=stop_at_first_progress_line)

    # 5 batches of 20 rows (the first 10 %) committed, the rest untouched
    stopped = read_progress(prod_conn, STEP)
    tenth = prod_conn.execute('SELECT "id" FROM "Recipe" ORDER BY "id" OFFSET 99 LIMIT 1').fetchone()[0]
    assert stopped.last_key == tenth and not stopped.finished
    left = prod_conn.execute(UNMAPPED + ' AND "id" <= %s', [tenth]).fetchone()[0]
    assert left == 0
    assert prod_conn.execute(UNMAPPED).fetchone()[0] == to_map - stopped.rows_done

    log = Lines()
    result = backfill(prod_conn, sized(20), log=log)
    assert result.verdict is Verdict.PASS, result.message
    details = result.details[0]
    assert details["resumed_from"] == tenth
    assert details["batches"] == 45 and details["rows"] == recipes - 100  # the done ranges are not walked again
    assert details["rows_mapped"] == to_map - stopped.rows_done
    assert log[0] == (f"  backfill Recipe.categoryId: resuming after id {tenth}: 100 of {recipes} rows done "
                      f"before ({stopped.rows_done} mapped), {recipes - 100} to go")
    assert f"resumed after id {tenth}" in result.message
    assert prod_conn.execute(UNMAPPED).fetchone()[0] == 0 and mapped_right(prod_conn)
    assert read_progress(prod_conn, STEP).rows_done == to_map


def test_a_killed_session_resumes_on_a_new_one(prod_db, prod_conn):
    to_map = prepare(prod_db, prod_conn)
    before = others(prod_conn)
    runner = prod_db.connect("tests/backfill")
    pid = runner.info.backend_pid

    def kill_the_session(line: str) -> None:  # from another session, as a DBA would
        if "rows/s" in line:
            prod_conn.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])

    killed = backfill(runner, sized(20), log=kill_the_session)
    assert killed.verdict is Verdict.FAIL and runner.broken
    runner.close()
    stopped = read_progress(prod_conn, STEP)
    assert not stopped.finished and stopped.last_key > 0
    assert killed.value == f"stopped after id {stopped.last_key}"
    assert "the session is gone" in killed.message and f"resumes after id {stopped.last_key}" in killed.hint

    with prod_db.connect("tests/backfill") as again:
        result = backfill(again, sized(20))
    assert result.verdict is Verdict.PASS, result.message
    assert result.details[0]["resumed_from"] == stopped.last_key
    assert prod_conn.execute(UNMAPPED).fetchone()[0] == 0 and mapped_right(prod_conn)
    assert read_progress(prod_conn, STEP).rows_done == to_map
    assert others(prod_conn) == before


# -- live traffic ----------------------------------------------------------------------------------

class Writer(threading.Thread):
    """The app, on its own session: inserts recipes with only the legacy text category (an old
    app version), changes the category and name of existing recipes, and sets categoryId
    directly (a new app version), as fast as it can until stopped."""

    def __init__(self, target, existing: list[int]):
        super().__init__(daemon=True)
        self.target, self.existing = target, existing
        self.stop, self.error = threading.Event(), None
        self.inserted: list[int] = []
        self.touched: set[int] = set()
        self.writes = 0

    def run(self) -> None:
        rng = random.Random(7)
        try:
            with self.target.connect("tests/app", guards=None) as conn:
                categories = conn.execute('SELECT "companyId", "id", "name" FROM "Category"').fetchall()
                while not self.stop.is_set():
                    company, category_id, name = rng.choice(categories)
                    kind = self.writes % 3
                    if kind == 0:
                        self.inserted.append(conn.execute(
                            'INSERT INTO "Recipe" ("companyId", "name", "category") VALUES (%s, %s, %s) '
                            'RETURNING "id"', [company, f"written live {self.writes}", name]).fetchone()[0])
                    else:
                        recipe = rng.choice(self.existing)
                        self.touched.add(recipe)
                        if kind == 1:
                            conn.execute(
                                'UPDATE "Recipe" SET "name" = "name" || %s, "category" = '
                                '(SELECT c."name" FROM "Category" c WHERE c."companyId" = "Recipe"."companyId" '
                                ' ORDER BY c."name" = "Recipe"."category", c."id" LIMIT 1) '
                                'WHERE "id" = %s', [" (edited)", recipe])
                        else:
                            conn.execute(
                                'UPDATE "Recipe" SET "categoryId" = (SELECT c."id" FROM "Category" c '
                                'WHERE c."companyId" = "Recipe"."companyId" ORDER BY c."id" DESC LIMIT 1) '
                                'WHERE "id" = %s', [recipe])
                    self.writes += 1
        except Exception as exc:  # reported by the test
            self.error = exc


def test_finishes_under_concurrent_inserts_and_updates_with_nothing_lost(prod_db, prod_conn):
    prepare(prod_db, prod_conn, scale=0.5)  # 2,500 recipes
    before = others(prod_conn)
    writer = Writer(prod_db, sorted(before))
    writer.start()
    while writer.writes < 50 and writer.is_alive():
        time.sleep(0.01)
    writes_at_start = writer.writes

    with prod_db.connect("tests/backfill") as conn:
        result = backfill(conn, sized(50, pause_ms=5))
    writes_during = writer.writes - writes_at_start
    time.sleep(0.2)  # the app keeps writing after the backfill: the trigger maps those rows
    writer.stop.set()
    writer.join(10)
    assert writer.error is None, writer.error

    assert result.verdict is Verdict.PASS, result.message  # no batch's checksum proof failed
    # 2,500 rows and the few the app inserted before the range was fixed, 50 to a batch
    assert "mismatch" not in result.details[0] and result.details[0]["batches"] >= 50
    assert writes_during > 100, writes_during  # the app really wrote while the batches ran
    assert writer.inserted and len(writer.touched) > 50
    ids = {row[0] for row in prod_conn.execute('SELECT "id" FROM "Recipe"')}
    assert set(before) <= ids  # no pre-existing row lost
    assert set(writer.inserted) <= ids
    after = others(prod_conn)
    untouched = set(before) - writer.touched
    assert {i: after[i] for i in untouched} == {i: before[i] for i in untouched}
    assert prod_conn.execute(UNMAPPED).fetchone()[0] == 0 and mapped_right(prod_conn)  # 100 % mapped
    assert verify(prod_conn, STEP.verify, phase="dry_run", subject=STEP.name).verdict is Verdict.PASS


def test_a_locked_row_makes_its_batch_retry_until_the_blocker_commits(prod_db, prod_conn):
    prepare(prod_db, prod_conn)
    start = prod_conn.execute('SELECT min("id") - 1 FROM "Recipe"').fetchone()[0]
    first = prod_conn.execute('SELECT min("id") FROM "Recipe" WHERE "category" IS NOT NULL').fetchone()[0]
    blocker = prod_db.connect("tests/blocker", guards=None, autocommit=False)
    blocker.execute('UPDATE "Recipe" SET "name" = "name" || %s WHERE "id" = %s', [" (held)", first])
    timer = threading.Timer(1.0, blocker.commit)
    timer.start()
    log = Lines()
    try:
        with prod_db.connect("tests/backfill", guards=SessionGuards(lock_timeout="200ms")) as conn:
            started = time.monotonic()
            result = backfill(conn, sized(100), log=log)
            waited = time.monotonic() - started
    finally:
        timer.join()
        blocker.close()

    assert result.verdict is Verdict.PASS, result.message
    assert result.details[0]["lock_retries"] >= 1 and waited >= 1.0
    retried = [line for line in log if "lock not available" in line]
    assert len(retried) == result.details[0]["lock_retries"]
    assert retried[0].startswith(f"    lock not available for the backfill batch after id {start} (attempt 1/10)")
    name, category_id = prod_conn.execute('SELECT "name", "categoryId" FROM "Recipe" WHERE "id" = %s',
                                          [first]).fetchone()
    assert name.endswith(" (held)") and category_id is not None  # the blocker's write kept, the row mapped
    assert prod_conn.execute(UNMAPPED).fetchone()[0] == 0


def test_rows_locked_on_every_attempt_fail_the_backfill_resumably(prod_db, prod_conn):
    to_map = prepare(prod_db, prod_conn)
    last = prod_conn.execute('SELECT max("id") FROM "Recipe"').fetchone()[0]
    with prod_db.connect("tests/blocker", guards=None, autocommit=False) as blocker:
        blocker.execute('SELECT 1 FROM "Recipe" WHERE "id" = %s FOR UPDATE', [last])
        with prod_db.connect("tests/backfill", guards=SessionGuards(lock_timeout="100ms")) as conn:
            result = backfill(conn, sized(400), policy=RetryPolicy(first_backoff=0.05, attempts=3))
        blocker.rollback()

    assert result.verdict is Verdict.FAIL
    stopped = read_progress(prod_conn, STEP)
    assert result.value == f"stopped after id {stopped.last_key}" and result.details[0]["batches"] == 2
    assert "SQLSTATE 55P03" in result.message and "pg_locks" in result.hint
    assert result.details[0]["lock_retries"] == 2
    assert prod_conn.execute(UNMAPPED).fetchone()[0] == to_map - stopped.rows_done > 0
    assert backfill(prod_conn, sized(400)).verdict is Verdict.PASS  # once the lock is gone
    assert prod_conn.execute(UNMAPPED).fetchone()[0] == 0


# -- the checksum proof ----------------------------------------------------------------------------

def test_a_change_beyond_the_mapped_column_is_rolled_back_and_fails_naming_the_range(prod_db, prod_conn):
    to_map = prepare(prod_db, prod_conn)
    before = others(prod_conn)
    # an app trigger that touches "updatedAt" on every UPDATE: the backfill's UPDATE included
    prod_conn.execute("""
        CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW."updatedAt" := NEW."updatedAt" + interval '1 second'; RETURN NEW; END $$;
        CREATE TRIGGER touch BEFORE UPDATE ON "Recipe" FOR EACH ROW EXECUTE FUNCTION touch()""")
    start = prod_conn.execute('SELECT min("id") - 1 FROM "Recipe"').fetchone()[0]
    tenth = prod_conn.execute('SELECT "id" FROM "Recipe" ORDER BY "id" OFFSET 99 LIMIT 1').fetchone()[0]

    result = backfill(prod_conn, sized(100))

    assert result.verdict is Verdict.FAIL
    assert result.value == f"checksum changed in the batch {start} < id <= {tenth}"
    assert "more than Recipe.categoryId" in result.message and "rolled back" in result.message
    assert f"resumes after id {start}" in result.hint
    mismatch = result.details[0]["mismatch"]
    assert (mismatch["from_key"], mismatch["to_key"]) == (start, tenth)
    assert mismatch["rows_before"] == mismatch["rows_after"] == 100
    assert mismatch["checksum_before"] != mismatch["checksum_after"]
    # nothing of the batch committed: no row mapped, no other column changed, progress where it was
    assert prod_conn.execute(UNMAPPED).fetchone()[0] == to_map
    assert others(prod_conn) == before
    assert read_progress(prod_conn, STEP).last_key == start

    prod_conn.execute('DROP TRIGGER touch ON "Recipe"')
    assert backfill(prod_conn, sized(100)).verdict is Verdict.PASS
    assert prod_conn.execute(UNMAPPED).fetchone()[0] == 0 and others(prod_conn) == before


def _vacuums(conn) -> tuple[int, int]:
    """(vacuum_count, analyze_count) of Recipe: manual runs only, autovacuum is off in these tests."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return conn.execute("SELECT vacuum_count, analyze_count FROM pg_stat_user_tables "
                        "WHERE relname = 'Recipe'").fetchone()


def test_a_finished_backfill_vacuums_and_analyzes_its_table_and_records_the_dead_tuples(prod_db):
    sample_app.load(prod_db, scale=SCALE)
    with prod_db.connect("tests", guards=None) as conn:
        # every freshly loaded table analyzed now: an autovacuum ANALYZE of one of them holds a snapshot
        # in this database, and a VACUUM while it runs keeps the backfill's dead rows (seen on CI: 450 left)
        conn.execute("VACUUM (ANALYZE)")
    # production's guards (statement_timeout among them), as the DAG's sessions have them
    with prod_db.connect("tests", guards=SessionGuards()) as conn:
        history.ensure(conn)
        conn.execute('ALTER TABLE "Recipe" SET (autovacuum_enabled = false)')  # only gonogo's vacuum counts
        before = _vacuums(conn)
        timeout = conn.execute("SHOW statement_timeout").fetchone()[0]

        results = apply_step(conn, STEP, phase="production", live_traffic=False, log=Lines(), policy=FAST,
                             run_id="tests")

        assert [r.verdict for r in results] == [Verdict.PASS] * len(results), [r.message for r in results]
        [vacuumed] = [r for r in results if r.gate == "backfill_vacuum"]
        assert [r.gate for r in results].index("backfill_vacuum") == [r.gate for r in results].index("backfill") + 1
        [details] = vacuumed.details
        assert details["vacuumed"] is True and details["table"] == "Recipe"
        # the backfill left an old version of every row it mapped; the vacuum removed them
        mapped = next(r for r in results if r.gate == "backfill").details[0]["rows_mapped"]
        assert details["dead_tuples_before"] >= mapped > 0
        assert details["dead_tuples_after"] == 0
        assert vacuumed.value.startswith(f"dead tuples {details['dead_tuples_before']} → 0 in ")
        assert _vacuums(conn) == (before[0] + 1, before[1] + 1)
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == timeout  # restored after the VACUUM
        [event] = [e for e in history.events(conn, BATCH.id) if e["detail"].get("action") == "vacuum"]
        assert event["event"] == "backfill" and event["step"] == STEP.name
        assert event["detail"]["dead_tuples_after"] == 0


def test_vacuum_after_false_leaves_the_table_to_autovacuum_and_says_how_many_dead_tuples(prod_db, prod_conn):
    sample_app.load(prod_db, scale=SCALE)
    history.ensure(prod_conn)
    prod_conn.execute('ALTER TABLE "Recipe" SET (autovacuum_enabled = false)')
    before = _vacuums(prod_conn)
    step = dataclasses.replace(STEP, backfill=dataclasses.replace(STEP.backfill, vacuum_after=False))

    results = apply_step(prod_conn, step, phase="dry_run", live_traffic=False, log=Lines(), policy=FAST,
                         run_id="tests")

    [left] = [r for r in results if r.gate == "backfill_vacuum"]
    assert left.verdict is Verdict.PASS and left.details[0]["vacuumed"] is False
    assert left.details[0]["dead_tuples_before"] > 0
    assert left.value == f"not vacuumed: {left.details[0]['dead_tuples_before']} dead tuples left"
    assert "vacuum_after: false" in left.message
    assert _vacuums(prod_conn) == before

