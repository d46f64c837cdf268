"""gonogo.postgres.plans: EXPLAIN ANALYZE of the app's top queries around real migrations on a real
cluster, and the query_latency gate over what it measured."""

from __future__ import annotations


import pytest

import sample_app
from gonogo.postgres import plans
from gonogo.batch import SqlFile, load_batch
from gonogo.postgres.execute import run_script
from gonogo.postgres.plans import PlanSample, compare, measure, median_run
from gonogo.authoring.queries import Query
from gonogo.results import Verdict
from helpers import create_database, drop_database, sql_file

SCALE = 1.0  # 50 companies: the sequential scans the batch's indexes replace cost milliseconds
MIGRATION_4 = "20250115150000_add_performance_indexes"


@pytest.fixture(scope="module")
def batch():
    return load_batch("20250115_recipe_fixes")


@pytest.fixture(scope="module")
def loaded(prod_cluster):
    """The recipe app loaded once; each test works on its own copy of it."""
    target = create_database(prod_cluster, "plans_template")
    sample_app.load(target, SCALE)
    yield target
    drop_database(prod_cluster, target.dbname)


@pytest.fixture
def recipe_db(prod_cluster, loaded):
    target = create_database(prod_cluster, "plans", template=loaded)
    yield target
    drop_database(prod_cluster, target.dbname)


@pytest.fixture
def conn(recipe_db):
    with recipe_db.connect("tests", guards=None) as conn:
        yield conn


def migration(tmp_path, name: str, text: str) -> SqlFile:
    return sql_file(tmp_path, text, f"{name}.sql")


def gate(before, after, batch):
    return compare(before, after, max_ratio=batch.thresholds.latency_ratio,
                   floor_ms=batch.thresholds.latency_floor_ms, phase="dry_run", subject="test step")


def rows_by_name(result) -> dict[str, dict]:
    return {row["name"]: row for row in result.details}


def test_median_run_is_the_median():
    assert median_run([5.0, 1.0, 3.0]) == 2             # 3.0
    assert median_run([9.0, 2.0, 7.0, 4.0, 1.0]) == 3   # 4.0
    assert median_run([4.0, 1.0, 3.0, 2.0]) == 3        # 2.0, the lower middle of an even count
    assert median_run([0.5]) == 0
    with pytest.raises(ValueError):
        median_run([])


def test_measure_keeps_the_median_of_real_runs_and_the_plan(conn, batch):
    samples = measure(conn, batch.queries, runs=3, keep_raw=True)
    assert list(samples) == [q.name for q in batch.queries] and len(samples) == 12
    for s in samples.values():
        assert s.error is None, s.error
        assert len(s.runs_ms) == 3 and s.execution_ms == sorted(s.runs_ms)[1]
        assert s.planning_ms > 0 and s.shared_hit + s.shared_read > 0
        assert s.raw["Plan"]["Node Type"] == s.top_node and "Execution Time" in s.raw
    sales = samples["sales_analytics"]
    assert ("Seq Scan", "SalesRecord", None) in sales.scans and sales.indexes == []
    # what travels through XCom: small, plain, without the EXPLAIN output unless asked
    data = plans.to_dicts(samples)
    assert "raw" not in data["sales_analytics"] and len(str(data)) < 4000
    assert plans.from_dicts(data)["sales_analytics"] == sales
    assert plans.to_dicts(samples, raw=True)["sales_analytics"]["raw"] == sales.raw


def test_migration_4_speeds_up_the_queries_its_indexes_are_for(conn, batch):
    before = measure(conn, batch.queries)
    run_script(conn, batch.step(MIGRATION_4).forward)
    after = measure(conn, batch.queries)

    result = gate(plans.to_dicts(before), plans.to_dicts(after), batch)  # as they come from XCom

    # PASS, or on a busy machine a WARN for a query slower over the same plan and pages (the
    # machine, not the step): never a regression
    assert result.verdict is not Verdict.FAIL, result.message
    assert result.gate == "query_latency" and result.threshold == "≤ 1.5x or ≤ +2 ms"
    rows = rows_by_name(result)
    assert not [r for r in rows.values() if r["verdict"] == "regressed"], rows
    improved = [r for r in rows.values() if r["verdict"] == "improved"]
    assert improved, rows
    for row in improved:
        assert row["after_ms"] < row["before_ms"] and row["ratio"] < 1
    # a faster run over the same plan is the machine (seen in CI under load); a new plan is the index
    for row in (r for r in improved if r["plan_changed"]):
        assert not row["indexes_used_before"] or row["indexes_used_before"] != row["indexes_used_after"]
        assert any(i.startswith("idx_") for i in row["indexes_used_after"]), row
    sales = rows["sales_analytics"]
    assert "Seq Scan on SalesRecord" in sales["plan_before"]
    assert "idx_sales_record_analytics" in sales["plan_after"] and sales["indexes_used_after"] == [
        "idx_sales_record_analytics"]
    assert sales["scans"].startswith("Seq Scan on SalesRecord → ")
    assert f"{len(improved)} improved" in result.message and "0 regressed" in result.message


def test_dropping_an_index_a_top_query_uses_fails_naming_it(conn, batch, tmp_path):
    queries = [q for q in batch.queries if q.name in ("sales_analytics", "recipe_list")]
    run_script(conn, migration(tmp_path, "add", 'CREATE INDEX idx_sales_record_analytics '
                                                 'ON "SalesRecord" ("companyId", "date", "recipeId")'))
    before = measure(conn, queries)
    assert before["sales_analytics"].indexes == ["idx_sales_record_analytics"]
    run_script(conn, migration(tmp_path, "drop", "DROP INDEX CONCURRENTLY idx_sales_record_analytics"))
    after = measure(conn, queries)

    result = gate(before, after, batch)

    assert result.verdict is Verdict.FAIL
    row = rows_by_name(result)["sales_analytics"]
    assert row["verdict"] == "regressed" and row["ratio"] > 1.5 and row["after_ms"] - row["before_ms"] > 2
    assert row["plan_changed"] and row["indexes_used_after"] == []
    assert row["scans"].endswith("→ Seq Scan on SalesRecord")
    assert rows_by_name(result)["recipe_list"]["verdict"] == "same"
    assert "sales_analytics" in result.message and "1 regressed" in result.message
    assert result.value.startswith("slowest change") and result.value.endswith("on sales_analytics")
    assert "no longer uses idx_sales_record_analytics" in result.hint


def test_a_query_the_migration_breaks_fails_and_is_not_raised(conn, batch, tmp_path):
    queries = [q for q in batch.queries if q.name in ("wholesale_orders_by_status", "inventory_history")]
    before = measure(conn, queries, runs=1)
    run_script(conn, migration(tmp_path, "drop_column", 'ALTER TABLE "WholesaleOrder" DROP COLUMN "customerName"'))
    after = measure(conn, queries, runs=1)

    assert after["wholesale_orders_by_status"].failed and after["inventory_history"].execution_ms > 0
    assert 'column "customerName" does not exist' in after["wholesale_orders_by_status"].error
    result = gate(before, after, batch)
    assert result.verdict is Verdict.FAIL
    row = rows_by_name(result)["wholesale_orders_by_status"]
    assert row["verdict"] == "broken" and "customerName" in row["error"]
    assert result.value == "wholesale_orders_by_status now fails"
    assert "wholesale_orders_by_status" in result.message and "breaks a query" in result.hint
    conn.execute("SELECT 1")  # the session is usable after the failed EXPLAIN

    # failing before and after: not this step's doing, but not a pass either
    assert gate(after, after, batch).verdict is Verdict.WARN


def test_parameters_are_bound_and_a_query_without_any_gets_none(conn):
    queries = [Query("literal_percent", """SELECT count(*) FROM "Recipe" WHERE "name" LIKE 'S%'"""),
               Query("one_recipe", 'SELECT "name" FROM "Recipe" WHERE "id" = %(id)s', {"id": 1})]
    samples = measure(conn, queries, runs=2)
    assert samples["literal_percent"].error is None and samples["one_recipe"].error is None
    assert samples["one_recipe"].scans == (("Index Scan", "Recipe", "Recipe_pkey"),)
    assert samples["one_recipe"].plan_text() == "Index Scan: Index Scan using Recipe_pkey on Recipe"


def _sample(name: str, ms: float, scans=(("Seq Scan", "Recipe", None),), pages: int = 100) -> PlanSample:
    return PlanSample(name, execution_ms=ms, planning_ms=0.1, runs_ms=(ms,), top_node="Limit", scans=scans,
                      shared_hit=pages)


def test_the_floor_keeps_a_fast_query_from_failing_the_gate():
    before = {"fast": _sample("fast", 0.025)}
    tiny = compare(before, {"fast": _sample("fast", 0.075)}, max_ratio=1.5, floor_ms=2.0)
    assert tiny.verdict is Verdict.PASS and tiny.details[0]["ratio"] == 3.0
    assert tiny.details[0]["verdict"] == "same" and tiny.value == "slowest change 3.00x (+0.05 ms) on fast"
    # the same ratio over the floor, reading 3x the pages, fails; over the floor within the ratio passes
    assert compare({"q": _sample("q", 2.0)}, {"q": _sample("q", 6.0, pages=300)}, max_ratio=1.5, floor_ms=2.0).failed
    assert not compare({"q": _sample("q", 10.0)}, {"q": _sample("q", 14.0, pages=300)}, max_ratio=1.5,
                       floor_ms=2.0).failed
    # both thresholds are the caller's
    assert compare(before, {"fast": _sample("fast", 0.075, pages=300)}, max_ratio=1.5, floor_ms=0.01).failed


def test_slower_with_the_same_plan_over_the_same_pages_warns_and_more_pages_fails():
    same = compare({"q": _sample("q", 10.0)}, {"q": _sample("q", 20.0, pages=105)}, max_ratio=1.5, floor_ms=2.0)
    assert same.verdict is Verdict.WARN and same.details[0]["verdict"] == "slower, same work"
    more = compare({"q": _sample("q", 10.0)}, {"q": _sample("q", 20.0, pages=200)}, max_ratio=1.5, floor_ms=2.0)
    assert more.verdict is Verdict.FAIL and more.details[0]["verdict"] == "regressed"


def test_improvements_and_plan_changes_are_shown():
    before = {"q": _sample("q", 8.0), "r": _sample("r", 1.0)}
    after = {"q": _sample("q", 1.0, (("Index Scan", "Recipe", "idx_recipe"),)), "r": _sample("r", 1.1)}
    result = compare(before, after, max_ratio=1.5, floor_ms=2.0, phase="dry_run", subject="step")
    assert result.verdict is Verdict.PASS and result.hint == ""
    q, r = result.details
    assert q["verdict"] == "improved" and q["plan_changed"] and q["indexes_used_after"] == ["idx_recipe"]
    assert q["plan_before"] == "Limit: Seq Scan on Recipe"
    assert q["scans"] == "Seq Scan on Recipe → Index Scan using idx_recipe on Recipe"
    assert r["verdict"] == "same" and not r["plan_changed"] and r["scans"] == ""
    assert result.message == "no top query of 2 got slower (0 regressed, 1 improved, 1 plans changed)"


def test_a_slowdown_that_does_not_reproduce_is_measured_again_and_passes(conn, batch):
    """A stalled measurement (the machine busy for a moment) is re-run before the gate fails. The
    re-run is itself timed on a shared machine, so the test may take up to three tries; without the
    re-run every try keeps the stall and fails."""
    queries = [q for q in batch.queries if q.name == "sales_analytics"]
    for _ in range(3):
        before = measure(conn, queries)
        real = measure(conn, queries)["sales_analytics"]
        stalled = {"sales_analytics": PlanSample(**{**real.__dict__, "execution_ms": real.execution_ms * 3 + 5})}
        # same plan, same pages: a WARN that names it, not a No-Go
        noisy = gate(before, stalled, batch)
        assert noisy.verdict is Verdict.WARN and "sales_analytics" in noisy.message and "same plan" in noisy.hint
        lines = []

        kept = plans.confirm(conn, queries, before, stalled, runs=5, max_ratio=batch.thresholds.latency_ratio,
                             floor_ms=batch.thresholds.latency_floor_ms, log=lines.append)

        assert kept["sales_analytics"].execution_ms < stalled["sales_analytics"].execution_ms
        assert lines and "sales_analytics looked slower" in lines[0]
        if gate(before, kept, batch).verdict is Verdict.PASS:
            break
    else:
        raise AssertionError(f"still slower after measuring again, three times: {lines}")


def test_a_real_regression_survives_the_second_measurement(conn, batch, tmp_path):
    queries = [q for q in batch.queries if q.name in ("sales_analytics", "recipe_list")]
    run_script(conn, migration(tmp_path, "add", 'CREATE INDEX idx_sales_record_analytics '
                                                 'ON "SalesRecord" ("companyId", "date", "recipeId")'))
    before = measure(conn, queries)
    run_script(conn, migration(tmp_path, "drop", "DROP INDEX CONCURRENTLY idx_sales_record_analytics"))
    lines = []

    after = plans.confirm(conn, queries, before, measure(conn, queries), runs=5,
                          max_ratio=batch.thresholds.latency_ratio,
                          floor_ms=batch.thresholds.latency_floor_ms, log=lines.append)

    assert gate(before, after, batch).verdict is Verdict.FAIL
    assert [line.split()[0] for line in lines] == ["sales_analytics"] * 2  # recipe_list was not re-run
