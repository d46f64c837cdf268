"""The watch window's judgement on a real cluster and a busy machine, windows of seconds: a CPU
hog during the window raises no alarm; an index a top query needs, dropped halfway, does, naming
the plan and work change; a query the batch made slower with the same plan does, from the rank
test; control queries slowed alike with the batch's raise none."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

from gonogo.watching.analysis import ALARM, PASSED
from gonogo.results import Verdict
from judge_app import context, cpu_hog, slower_price, tiny_batch, window


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
    status, results = window(ctx, during=slower_price(tiny_app))
    assert status == ALARM
    slow = by_subject(results)["query_ms:item_by_v"]
    assert slow.verdict is Verdict.FAIL
    # time alone fired (the plan may turn cheaper meanwhile, once the visibility map allows an
    # index-only scan: an improvement, not evidence)
    assert "item_by_v: time changed —" in slow.message and "Mann-Whitney p" in slow.message, slow.message
    assert {d["note"] for d in slow.details} <= {"", "breach: time"}, slow.details
    assert "trigger, CHECK or function" in slow.hint


def test_the_dead_tuples_a_rewrite_left_are_read_in_the_session_that_wrote_them(tiny_app):
    from gonogo.watching import judge
    from gonogo.rehearsal.dryrun import _dead_tuples

    with tiny_app.connect("tests", guards=None) as conn:
        conn.autocommit = True
        conn.execute("ALTER TABLE items SET (autovacuum_enabled = off)")
        conn.execute("UPDATE items SET v = v")  # a backfill's whole-table rewrite
        dead = _dead_tuples(conn, {"items"})
    assert dead["items"] >= judge.DEAD_SHARE  # seen at once, though the stats flush later (the diagnosis needs it)
