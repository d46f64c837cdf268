"""The watch window's judgement on a real cluster and a busy machine, windows of seconds: a CPU
hog during the window raises no alarm; an index a top query needs, dropped halfway, does, naming
the plan and work change; a query the batch made slower with the same plan does, from the rank
test; control queries slowed alike with the batch's raise none."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from gonogo.analysis import ALARM, PASSED
from gonogo.batch import WatchConfig, load_batch
from gonogo.context import RunContext
from gonogo.queries import Query
from gonogo.results import Verdict
from gonogo.watch import capture_baseline, run_window
from gonogo.workload import Workload
from helpers import create_database, drop_database

FAST = WatchConfig(interval_seconds=0.5, baseline_intervals=6)
WINDOW_HOURS = 8 / 3600
# A tiny app: `items` is the batch's table, `other` is not (its query is a control).
SCHEMA = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL, pad text);
INSERT INTO items SELECT i, i % 97, repeat('x', 200) FROM generate_series(1, 20000) i;
CREATE INDEX items_v ON items (v);
CREATE TABLE other (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO other SELECT i, i % 13 FROM generate_series(1, 5000) i;
CREATE FUNCTION price(v int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN v * 2; END $$;
"""
QUERIES = (
    Query("item_by_v", "SELECT count(*), sum(price(v)) FROM items WHERE v = %(v)s", {"v": 7},
          param_sets=tuple({"v": v} for v in range(1, 40))),
    Query("other_by_v", "SELECT count(*) FROM other WHERE v = %(v)s AND id < %(top)s", {"v": 3, "top": 4000},
          param_sets=tuple({"v": v % 13, "top": 4000} for v in range(1, 40))),
)


def quiet(_):
    pass


@pytest.fixture
def tiny_app(prod_cluster):
    target = create_database(prod_cluster, "judge", name="production")
    with target.connect("tests", guards=None) as conn:
        conn.execute(SCHEMA)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE items, other")
        conn.execute("SELECT pg_stat_statements_reset()")
    yield target
    drop_database(prod_cluster, target.dbname)


def tiny_batch():
    return dataclasses.replace(load_batch("20250115_recipe_fixes"), queries=QUERIES, required_tables=("items",),
                               steps=(), watch=FAST)


def context(target, batch) -> RunContext:
    return RunContext(batch=batch, production=target, staging=target, run_id="judge", app="judge/tests",
                      folder=Path("/nonexistent"))


@contextmanager
def cpu_hog(after: float = 0.0):
    """A real busy machine: one Python loop per core, from `after` seconds on."""
    hogs: list[subprocess.Popen] = []

    def start():
        time.sleep(after)
        hogs.extend(subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2))

    starter = threading.Thread(target=start, daemon=True)
    starter.start()
    try:
        yield
    finally:
        starter.join()
        for hog in hogs:
            hog.kill()
            hog.wait()


def window(ctx, *, during=None):
    """Baseline, then the window with `during` (a context manager) around it."""
    with Workload(ctx.production, ctx.batch.queries, clients=2, app="tests/app", think_seconds=0.002):
        time.sleep(1)
        baseline = capture_baseline(ctx, hours=WINDOW_HOURS)
        with during or contextmanager(lambda: (yield))():
            return run_window(ctx, baseline, hours=WINDOW_HOURS, log=quiet)


def by_subject(results):
    return {r.subject: r for r in results}


def test_a_cpu_hog_during_the_window_and_control_queries_slowed_alike_raise_no_alarm(tiny_app):
    ctx = context(tiny_app, tiny_batch())
    status, results = window(ctx, during=cpu_hog(after=1.0))
    found = by_subject(results)
    assert status == PASSED, [r.message for r in results if r.verdict is not Verdict.PASS]
    assert found["query_ms:item_by_v"].verdict is Verdict.PASS
    assert "controls ×" in found["query_ms:item_by_v"].message  # normalised by the controls
    assert "a control" in found["query_ms:other_by_v"].threshold  # touches none of the batch's tables
    # the controls did slow (the machine was busy) — and that is why nothing fired
    assert "the machine ran ×" in found["control_probe"].message


def test_an_index_a_top_query_needs_dropped_halfway_is_an_alarm_naming_the_plan_and_work(tiny_app):
    ctx = context(tiny_app, tiny_batch())

    def drop_the_index():
        time.sleep(3)
        with tiny_app.connect("tests/dba", guards=None) as conn:
            conn.execute("DROP INDEX items_v")

    @contextmanager
    def dropping():
        thread = threading.Thread(target=drop_the_index, daemon=True)
        thread.start()
        yield
        thread.join()

    status, results = window(ctx, during=dropping())
    assert status == ALARM
    slow = by_subject(results)["query_ms:item_by_v"]
    assert slow.verdict is Verdict.FAIL
    # the plan says it within two polls; the pages per call follow once the median moves
    assert "plan changed" in slow.message, slow.message
    assert "Seq Scan on items" in slow.message
    assert "it no longer uses items_v" in slow.hint
    assert any(d["note"].startswith("breach: plan") for d in slow.details)
    assert by_subject(results)["query_ms:other_by_v"].verdict is Verdict.PASS


def test_a_query_the_batch_made_slower_with_the_same_plan_is_an_alarm_from_the_rank_test(tiny_app):
    ctx = context(tiny_app, tiny_batch())

    @contextmanager
    def slower_function():
        with tiny_app.connect("tests/dba", guards=None) as conn:
            conn.execute("CREATE OR REPLACE FUNCTION price(v int) RETURNS int LANGUAGE plpgsql AS "
                         "$$ BEGIN PERFORM pg_sleep(0.0002); RETURN v * 2; END $$")
        yield

    status, results = window(ctx, during=slower_function())
    assert status == ALARM
    slow = by_subject(results)["query_ms:item_by_v"]
    assert slow.verdict is Verdict.FAIL
    assert "time changed" in slow.message and "plan changed" not in slow.message, slow.message
    assert "work changed" not in slow.message and "Mann-Whitney p" in slow.message
    assert "trigger, CHECK or function" in slow.hint
