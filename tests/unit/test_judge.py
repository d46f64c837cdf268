"""gonogo.watching.judge: the rank test against reference values, and which evidence fires."""

from __future__ import annotations

import pytest

from gonogo.watching import judge
from gonogo.watching.judge import Evidence, control_factors, diagnose, mann_whitney_u


def test_mann_whitney_u_matches_the_reference_values():
    # scipy.stats.mannwhitneyu's documented example: U1 = 17, exact two-sided p = 0.1111,
    # asymptotic two-sided p = 0.11134688653314041; one-sided is half of each
    males, females = [19, 22, 16, 29, 24], [20, 11, 17, 12]
    u, p = mann_whitney_u(males, females)
    assert u == 17 and p == pytest.approx(0.1111 / 2, abs=1e-4)
    saved = judge.EXACT_UP_TO
    try:
        judge.EXACT_UP_TO = 0
        assert mann_whitney_u(males, females)[1] == pytest.approx(0.11134688653314041 / 2, rel=1e-9)
    finally:
        judge.EXACT_UP_TO = saved
    assert mann_whitney_u([1, 2, 3], [4, 5, 6, 7]) == (0, 1.0)          # smaller is never "greater"
    assert mann_whitney_u([5, 5, 5], [5, 5, 5])[1] == 1.0               # all equal: no evidence
    assert mann_whitney_u([9, 10, 11], [1, 2, 3, 4, 5, 6])[1] == pytest.approx(1 / 84)


BASE = Evidence(ms=(2.0, 2.1, 1.9, 2.0, 2.2, 1.8, 2.0, 2.1), pages=(12,) * 8, rows=(20,) * 8,
                plan="Limit: Index Scan using i on t", scans=(("Index Scan", "t", "i"),), cost=10.0)


def test_every_query_slower_alike_is_the_machine_not_the_migration():
    busy = Evidence(ms=(4.1, 3.9, 4.2, 4.0, 4.3, 3.8), pages=(12,) * 6, rows=(20,) * 6, plan=BASE.plan,
                    scans=BASE.scans, cost=10.0)
    alone = judge.judge("q", BASE, busy, before_factors=[1.0] * 8, after_factors=[1.0] * 6)
    assert alone.fired == ("time",)  # the controls did not slow: the query alone did
    alike = judge.judge("q", BASE, busy, before_factors=[1.0] * 8, after_factors=[2.0, 1.9, 2.1, 2.0, 2.1, 1.9])
    assert not alike.alarm and "controls ×2" in alike.message
    faster = Evidence(ms=(1.0,) * 6, pages=(3,) * 6, rows=(20,) * 6, plan="Limit: Index Only Scan using j on t",
                      scans=(("Index Only Scan", "t", "j"),), cost=4.0)
    better = judge.judge("q", BASE, faster)
    assert not better.alarm and "cheaper" in better.message  # an improvement is never a breach


def test_more_pages_with_the_same_plan_on_a_rewritten_table_says_vacuum():
    bloated = Evidence(ms=(5.0,) * 6, pages=(40,) * 6, rows=(20,) * 6, plan=BASE.plan, scans=BASE.scans, cost=10.0)
    verdict = judge.judge("q", BASE, bloated)
    assert "work" in verdict.fired and "pages per call 12 → 40" in verdict.message
    found = diagnose(verdict, bloated, dead={"t": 47.0}, rewritten={"t"}, steps_naming={})
    assert found.remedy.startswith('VACUUM (ANALYZE) "t" (47 % dead tuples') and "rollback would not" in found.remedy
    not_ours = diagnose(verdict, bloated, dead={"t": 47.0}, rewritten=set(), steps_naming={})
    assert "VACUUM" not in not_ours.remedy.split(":")[0]


def test_a_plan_change_names_the_step():
    seq = Evidence(ms=(9.0,) * 6, pages=(900,) * 6, rows=(20,) * 6, plan="Limit: Seq Scan on t",
                   scans=(("Seq Scan", "t", None),), cost=400.0)
    verdict = judge.judge("q", BASE, seq)
    assert set(verdict.fired) == {"plan", "work", "time"}
    found = diagnose(verdict, seq, dead={}, rewritten=set(), steps_naming={"i": ["004_drop_i"]}, lost=["i"])
    assert found.remedy.startswith("step 004_drop_i changed the plan") and "no longer uses i" in found.remedy


def test_control_factors_are_the_median_slowdown_of_the_controls():
    assert control_factors([[1.0, 1.0], [2.0, 2.0]], [[2.0, 1.0], [4.0, 6.0]]) == [2.0, 2.0]
    assert control_factors([[1.0]], [[]]) == []


def test_the_staging_latency_gate_judges_the_same_way():
    from gonogo.postgres.plans import PlanSample, compare
    from gonogo.results import Verdict

    def sample(name, runs, pages=12, scans=(("Seq Scan", "Recipe", None),), cost=100.0):
        return PlanSample(name, execution_ms=sorted(runs)[len(runs) // 2], runs_ms=tuple(runs), shared_hit=pages,
                          top_node="Limit", scans=scans, cost=cost)

    quick, slow = [4.0, 4.1, 3.9, 4.0, 4.2], [9.0, 9.2, 8.9, 9.1, 9.3]
    ctrl = (("Seq Scan", "Other", None),)
    before = {"q": sample("q", quick), "c": sample("c", quick, scans=ctrl)}
    # slower, same plan and pages, controls not slower: the step's (a slower trigger or function)
    gate = compare(before, {"q": sample("q", slow), "c": sample("c", quick, scans=ctrl)}, max_ratio=1.5, floor_ms=2,
                   controls=["c"])
    assert gate.verdict is Verdict.FAIL and gate.details[0]["evidence"] == ["time"]
    # the controls as slow: the machine
    gate = compare(before, {"q": sample("q", slow), "c": sample("c", slow, scans=ctrl)}, max_ratio=1.5, floor_ms=2,
                   controls=["c"])
    assert gate.verdict is Verdict.WARN and gate.details[0]["verdict"] == "slower, same work"
    # more pages on a table the batch backfilled, 47 % dead: VACUUM (ANALYZE), not a No-Go
    gate = compare(before, {"q": sample("q", slow, pages=60), "c": sample("c", quick, scans=ctrl)}, max_ratio=1.5,
                   floor_ms=2, controls=["c"], dead={"Recipe": 47.0}, rewritten={"Recipe"})
    assert gate.verdict is Verdict.WARN and 'VACUUM (ANALYZE) "Recipe"' in gate.hint


def test_the_watch_reports_more_pages_on_a_rewritten_table_as_vacuum_advice_not_an_alarm():
    from gonogo.watching.analysis import PASSED, Analysis, Metric
    from gonogo.results import Verdict

    q = Metric("query_ms:q", "q", "", {"rewritten": ["t"], "steps_naming": {}}, kind="query", max_ratio=1.5,
               floor=2.0, failure_limit=1)
    dead = Metric("dead_tuples:t", "dead", "", unit=" %", max_increase=20, severity="warn", failure_limit=2)
    plan = ("Limit: Seq Scan on t", [["Seq Scan", "t", None]])

    def reading(calls, ms=2.0, pages=12):  # cumulative (time, calls, pages, rows), cost, plan, scans
        return (calls * ms, float(calls), calls * pages, calls * 20.0, 10.0, *plan)

    series = [{"query_ms:q": reading(10 * i), "dead_tuples:t": (2.0,)} for i in range(1, 9)]
    analysis = Analysis([q, dead], series[-1], window_seconds=100, series=series)
    total = (80 * 2.0, 80.0, 80 * 12.0, 80 * 20.0)
    for i in range(1, 7):  # ten calls an interval, 40 pages each, a little slower: the dead rows
        total = (total[0] + 10 * 2.2, total[1] + 10, total[2] + 10 * 40, total[3] + 10 * 20)
        analysis.observe({"query_ms:q": (*total, 10.0, *plan), "dead_tuples:t": (47.0,)}, i * 10)
    assert analysis.finish() == PASSED
    [result] = [r for r in analysis.results() if r.subject == "query_ms:q"]
    assert result.verdict is Verdict.WARN and result.hint.startswith('not an alarm: VACUUM (ANALYZE) "t"')


def test_plan_and_work_that_cost_no_time_that_matters_are_reported_not_fired():
    # The seed's sample data: a backfill left the planner reading a tiny table whole (47 pages in
    # 0.13 ms) instead of by index (10 pages in 0.05 ms); the batch's thresholds (×1.5 and 2 ms)
    # say such a query is no regression.
    tiny_before = Evidence(ms=(0.045,) * 8, pages=(9.8,) * 8, rows=(9,) * 8, plan="Limit: Index Scan using i on t",
                           scans=(("Index Scan", "t", "i"),), cost=18.0)
    tiny_after = Evidence(ms=(0.13,) * 6, pages=(47,) * 6, rows=(9,) * 6, plan="Limit: Seq Scan on t",
                          scans=(("Seq Scan", "t", None),), cost=60.0)
    verdict = judge.judge("q", tiny_before, tiny_after)
    assert not verdict.alarm and verdict.figures["unimportant"] == ["plan", "work"]
    assert "not a regression that matters" in verdict.message
    # the same change with a floor the team set for queries this fast is an alarm
    assert {"plan", "work"} <= set(judge.judge("q", tiny_before, tiny_after, floor_ms=0.05).fired)
    # more pages that cost nothing yet on a table the batch rewrote: the VACUUM advice still comes
    same_time = Evidence(ms=(2.0,) * 6, pages=(40,) * 6, rows=(20,) * 6, plan=BASE.plan, scans=BASE.scans, cost=10.0)
    quiet = judge.judge("q", BASE, same_time)
    assert not quiet.alarm
    found = diagnose(quiet, same_time, dead={"t": 47.0}, rewritten={"t"}, steps_naming={})
    assert found.remedy.startswith('VACUUM (ANALYZE) "t"')


def test_more_pages_on_a_rewritten_table_already_vacuumed_are_its_freed_pages_not_a_rollback():
    # the backfill's own VACUUM ran: no dead tuples left, the table keeps the pages they took
    grown = Evidence(ms=(5.0,) * 6, pages=(51,) * 6, rows=(20,) * 6, plan=BASE.plan, scans=BASE.scans, cost=10.0)
    verdict = judge.judge("q", BASE, grown)
    found = diagnose(verdict, grown, dead={"t": 0.4}, rewritten={"t"}, steps_naming={})
    assert found.remedy.startswith('VACUUM (ANALYZE) has left "t"') and "pg_repack" in found.remedy
    assert "a rollback would not" in found.remedy
    elsewhere = diagnose(verdict, grown, dead={}, rewritten=set(), steps_naming={})
    assert not elsewhere.remedy.startswith("VACUUM")
