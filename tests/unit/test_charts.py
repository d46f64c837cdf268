"""The report's chart: one bar per category per series, labels as SVG text, the same bytes for the
same numbers, nothing a label holds ever parsed as markup."""

from __future__ import annotations

from collections import Counter

from gonogo.batch import load_batch
from gonogo.reporting.charts import bar_id, grouped_bars
from report_page import ReportPage

QUERIES = [q.name for q in load_batch("20250115_recipe_fixes").queries]


def test_one_bar_per_query_per_series_labelled_with_the_query_names():
    series = {"before": [0.05 * (i + 1) for i in range(len(QUERIES))],
              "after": [20.0 / (i + 1) for i in range(len(QUERIES))]}
    page = ReportPage(grouped_bars("latency", QUERIES, series))
    assert Counter(page.bars) == Counter(bar_id("latency", s, q) for s in series for q in QUERIES)
    assert set(QUERIES) <= set(page.svg_texts)
    assert "ms (log scale)" in page.svg_texts  # 0.05 ms to 20 ms: a linear axis would hide the small ones


def test_the_same_numbers_give_the_same_svg():
    series = {"before": [1.0, 2.0], "after": [1.5, None]}
    first = grouped_bars("latency", ["a", "b"], series)
    assert first == grouped_bars("latency", ["a", "b"], series)
    assert first.startswith("<svg") and first != grouped_bars("latency", ["a", "b"], {**series, "after": [1.5, 3.0]})


def test_a_missing_value_draws_no_bar_and_says_so():
    page = ReportPage(grouped_bars("watch", ["a", "b"], {"baseline": [1.0, 2.0], "window": [1.5, None]}))
    assert bar_id("watch", "window", "b") not in page.bars and len(page.bars) == 3
    assert "not measured" in page.svg_texts


def test_labels_are_text_never_markup():
    page = ReportPage(grouped_bars("latency", ["<b>q</b>", "$x$"], {"before": [1.0, 2.0]}))
    assert "b" not in page.tags
    assert {"<b>q</b>", "$x$"} <= set(page.svg_texts)  # and a '$' does not start math mode
