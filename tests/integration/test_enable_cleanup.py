"""The seed's next steps: the cleanup stays disabled; an operator may enable it for a run, and
then only a week after a clean watch window, with the approval saying so."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gonogo.apply import history
from gonogo.batch import load_batch
from gonogo.errors import BatchError
from gonogo.gates.enabled_steps import enabled_steps
from gonogo.reporting.report import RunInfo, approval_markdown
from gonogo.results import Verdict

BATCH = load_batch("20250115_recipe_fixes")
CLEANUP = "20250115160002_fix_recipe_category_fields_cleanup"


def passed_window(conn, days_ago: float) -> None:
    history.ensure(conn)
    ended = datetime.now(timezone.utc) - timedelta(days=days_ago)
    history.record(conn, "earlier_run", BATCH.id, "watch_passed", detail={"ended_at": ended.isoformat()})


def test_nothing_enabled_means_no_gate(prod_conn):
    assert enabled_steps(prod_conn, BATCH) == []


def test_only_disabled_steps_can_be_enabled():
    with pytest.raises(BatchError) as refused:
        BATCH.with_enabled(["20250115120000_add_composite_unique_constraints"])
    assert CLEANUP in str(refused.value)  # names what can be enabled


def test_the_cleanup_waits_for_a_clean_window_a_week_old(prod_conn):
    batch = BATCH.with_enabled([CLEANUP])
    assert [s.name for s in batch.explicitly_enabled] == [CLEANUP]

    [never] = enabled_steps(prod_conn, batch)
    assert never.verdict is Verdict.FAIL and "no watch window" in never.message

    passed_window(prod_conn, days_ago=2)
    [too_soon] = enabled_steps(prod_conn, batch)
    assert too_soon.verdict is Verdict.FAIL and "may be enabled from" in too_soon.message

    passed_window(prod_conn, days_ago=8)
    [allowed] = enabled_steps(prod_conn, batch)
    assert allowed.verdict is Verdict.PASS


def test_the_approval_says_the_run_enables_a_disabled_step():
    text = approval_markdown(RunInfo("d", "r", BATCH.id, BATCH.title), BATCH.with_enabled([CLEANUP]), [])
    assert text.splitlines()[0].startswith(f"- ⚠️ **This run ENABLES the disabled step `{CLEANUP}`**")
    assert BATCH.step(CLEANUP).disabled_reason in text.splitlines()[0]
