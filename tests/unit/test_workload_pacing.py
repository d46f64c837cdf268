"""The pace of the app's traffic on staging: every query at a rate, none in a closed loop, the
total capped with production's mix kept."""

from __future__ import annotations

import pytest

from gonogo.batch import load_batch
from gonogo.errors import BatchError
from gonogo.authoring.queries import Query
from gonogo.rehearsal.workload import paced

FOUND = Query("lookup", "SELECT 1", rate=40.0)  # a rate measured on production
WRITTEN = Query("report", "SELECT 2")  # a manifest query: no rate known


def test_each_query_gets_the_manifests_rate_else_productions_else_the_default():
    traffic = paced([FOUND, WRITTEN, Query("other", "SELECT 3", rate=2.0)], rates={"other": 5.0}, default=3.0)
    assert {q.name: q.rate for q in traffic.queries} == {"lookup": 40.0, "report": 3.0, "other": 5.0}
    assert traffic.sources == {"lookup": "production", "report": "default", "other": "manifest"}
    assert traffic.scale == 1.0 and traffic.calls_per_second == 48.0
    assert traffic.describe() == "48.0 calls/s over 3 queries (1 production, 1 default, 1 manifest rates)"


def test_a_busy_production_is_scaled_down_to_the_cap_keeping_its_mix():
    busy = [Query("hot", "SELECT 1", rate=3000.0), Query("warm", "SELECT 2", rate=1000.0)]
    traffic = paced(busy, cap=200.0)
    assert {q.name: q.rate for q in traffic.queries} == {"hot": 150.0, "warm": 50.0}
    assert traffic.scale == pytest.approx(0.05)
    assert traffic.describe().endswith("(2 production rates, scaled ×0.05 to the cap)")


def test_no_query_is_left_without_a_rate():
    assert all(q.rate and q.rate > 0 for q in paced([WRITTEN, Query("zero", "SELECT 0", rate=0.0)]).queries)


def test_the_manifest_names_rates_default_and_cap(tmp_path):
    folder = tmp_path / "paced"
    (folder / "migrations").mkdir(parents=True)
    (folder / "migrations/a.sql").write_text("SELECT 1;\n")
    (folder / "migrations/a_rollback.sql").write_text("SELECT 1;\n")
    (folder / "queries.sql").write_text("-- name: one\nSELECT 1;\n-- name: two\nSELECT 2;\n")
    manifest = ("id: paced\ntitle: t\ntop_queries: queries.sql\n"
                "steps: [{order: 1, file: migrations/a.sql, rollback: migrations/a_rollback.sql, kind: schema}]\n")
    (folder / "manifest.yaml").write_text(manifest + "workload: {rates: {one: 12.5}, default_calls_per_second: 2, "
                                                     "max_calls_per_second: 50}\n")
    pace = load_batch("paced", root=tmp_path).pace
    assert (pace.rates, pace.default_calls_per_second, pace.max_calls_per_second) == ({"one": 12.5}, 2, 50)
    assert load_batch("20250115_recipe_fixes").pace.max_calls_per_second == 200.0  # the default

    (folder / "manifest.yaml").write_text(manifest + "workload: {rates: {three: 1}}\n")
    with pytest.raises(BatchError, match="workload.rates: no top query named three"):
        load_batch("paced", root=tmp_path)


def test_queries_that_keep_staging_busier_than_the_budget_are_all_scaled_down_by_one_factor():
    """12 queries of 50 ms at 10 calls/s each would keep 6 sessions busy: 0.25 is a 24th of it.
    One call that waited on a lock for 20 s does not stop its query (the median of its last 5)."""
    from gonogo.rehearsal.workload import _Pacer

    queries = [Query(f"q{n}", "SELECT 1", rate=10.0) for n in range(12)]
    pacer = _Pacer(queries, start=0.0, busy_budget=0.25)
    for query in queries:
        for _ in range(3):
            pacer.took(query, 0.05)
    assert pacer.scale == pytest.approx(0.25 / 6.0)
    pacer.took(queries[0], 20.0)
    assert pacer.scale == pytest.approx(0.25 / 6.0)  # still the median: 50 ms
    for query in queries:
        for _ in range(5):
            pacer.took(query, 0.001)  # fast again: back to the rates as they are
    assert pacer.scale == 1.0 and pacer.lowest_scale == pytest.approx(0.25 / 6.0)
    unbounded = _Pacer(queries, start=0.0)
    unbounded.took(queries[0], 5.0)
    assert unbounded.scale == 1.0
