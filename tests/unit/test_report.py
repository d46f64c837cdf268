"""The Go/No-Go report rendered from GateResults: verdicts per condition, and the files it writes."""

from __future__ import annotations

import json
import os
import stat

import pytest

from gonogo.batch import load_batch
from gonogo.decision import Decision
from gonogo.reporting.report import DECISION_GATE, RunInfo, approval_markdown, evaluate, html, write_reports
from gonogo.results import GateResult, Verdict, overall
from report_page import SECTIONS, ReportPage

BATCH = load_batch("20250115_recipe_fixes")
INFO = RunInfo(dag_id="gonogo_rollout", run_id="manual__2025-01-15T10:00:00", batch_id=BATCH.id,
               batch_title=BATCH.title, run_url="http://airflow.local/run/1")


def result(gate: str, verdict: Verdict, *, phase: str = "dry_run", subject: str = "", value: str = "") -> GateResult:
    return GateResult(gate=gate, title=gate.replace("_", " "), verdict=verdict, value=value or f"{gate} measured",
                      threshold="t", message=f"{gate} is {verdict.value}", phase=phase, subject=subject)


def row(rows: list[dict], condition: str) -> dict:
    return next(r for r in rows if r["condition"] == condition)


def test_a_condition_without_results_has_no_verdict():
    rows = evaluate([])
    assert [r["condition"] for r in rows] == [c.text for c in DECISION_GATE]
    assert all(r["verdict"] is None and r["results"] == 0 for r in rows)
    assert not any("PASS" in r["evidence"] for r in rows)


def test_only_measured_conditions_get_a_verdict():
    rows = evaluate([result("orphan_integrity", Verdict.PASS, phase="preflight")])
    assert row(rows, "Orphans = 0 (no orphaned foreign key references)")["verdict"] == "PASS"
    measured = [r for r in rows if r["verdict"] is not None]
    assert len(measured) == 1
    assert row(rows, "Monitoring enabled")["verdict"] is None
    assert "not measured" in row(rows, "Query latency not worse for any top-10 query")["evidence"]


def test_results_of_another_phase_are_not_evidence():
    rows = evaluate([result("orphan_integrity", Verdict.PASS, phase="watch"),
                     result("restore_point", Verdict.PASS, phase="dry_run")])
    assert row(rows, "Orphans = 0 (no orphaned foreign key references)")["verdict"] is None
    assert row(rows, "Restore point created")["verdict"] is None


@pytest.mark.parametrize(("verdicts", "expected"), [
    ((Verdict.PASS, Verdict.PASS), "PASS"),
    ((Verdict.PASS, Verdict.WARN, Verdict.PASS), "WARN"),
    ((Verdict.WARN, Verdict.FAIL, Verdict.PASS), "FAIL"),
    ((Verdict.FAIL, Verdict.WARN), "FAIL"),
])
def test_fail_beats_warn_beats_pass(verdicts, expected):
    results = [result("step_applied", v, subject=f"step{i}", value=f"value {i}") for i, v in enumerate(verdicts)]
    r = row(evaluate(results), "Migrations apply cleanly on the staging copy")
    assert r["verdict"] == expected and r["results"] == len(verdicts)
    assert overall(results).value == expected


def test_evidence_names_the_worst_results():
    results = [result("step_applied", Verdict.PASS, subject="s1", value="3 statements"),
               result("step_applied", Verdict.FAIL, subject="s2", value="failed at line 7")]
    r = row(evaluate(results), "Migrations apply cleanly on the staging copy")
    assert "s2: failed at line 7" in r["evidence"] and "s1" not in r["evidence"]


def test_approval_markdown_lists_every_condition():
    results = [result("server_versions", Verdict.PASS, phase="preflight"),
               result("step_applied", Verdict.FAIL, subject=BATCH.steps[0].name)]
    text = approval_markdown(INFO, BATCH, results)
    for condition in DECISION_GATE:
        assert condition.text in text
    assert "**FAIL**" in text.splitlines()[0]
    assert BATCH.steps[-1].disabled_reason in text  # the disabled cleanup is shown with its reason


def test_write_reports_makes_private_files_whose_verdict_is_the_overall_one(tmp_path):
    results = [result("server_versions", Verdict.PASS, phase="preflight"),
               result("monitoring_enabled", Verdict.WARN, phase="preflight"),
               result("step_applied", Verdict.PASS, subject=BATCH.steps[0].name)]
    paths = write_reports(tmp_path, INFO, BATCH, results)
    assert set(paths) == {"markdown", "html", "json"}
    for path in paths.values():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    # no temp file left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.json", "report.md"]

    payload = json.loads((tmp_path / "report.json").read_text())
    assert payload["verdict"] == overall(results).value == "WARN"
    assert payload["batch"]["checksums"] == BATCH.checksums()
    assert [GateResult.from_dict(r) for r in payload["results"]] == results
    assert payload["decision_gate"] == evaluate(results)

    markdown = (tmp_path / "report.md").read_text()
    assert all(c.text in markdown for c in DECISION_GATE)


def test_write_reports_replaces_a_report_and_keeps_it_private(tmp_path):
    (tmp_path / "report.json").write_text("old")
    os.chmod(tmp_path / "report.json", 0o644)
    write_reports(tmp_path, INFO, BATCH, [result("server_versions", Verdict.FAIL, phase="preflight")])
    assert stat.S_IMODE(os.stat(tmp_path / "report.json").st_mode) == 0o600
    assert json.loads((tmp_path / "report.json").read_text())["verdict"] == "FAIL"


def test_html_report_puts_the_verdict_first_and_escapes_what_it_shows(tmp_path):
    from gonogo.lint import Finding

    finding = Finding(rule="<kbd>rule</kbd>", source="gonogo", level="error", file="<u>f.sql</u>", line=1,
                      statement="<i>DROP</i>", lock="ACCESS EXCLUSIVE", message="<em>risk</em>", help="<s>fix</s>")
    hostile = result("lint", Verdict.FAIL, subject=BATCH.steps[0].name, phase="preflight")
    hostile = GateResult(**{**hostile.to_dict(), "verdict": Verdict.FAIL, "message": "<script>alert(1)</script>",
                            "details": [finding.to_detail()]})
    write_reports(tmp_path, INFO, BATCH, [result("server_versions", Verdict.PASS, phase="preflight"), hostile])
    page = ReportPage((tmp_path / "report.html").read_text())

    assert not {"script", "i", "kbd", "u", "em", "s"} & page.tags  # shown as text, never run
    assert "<script>alert(1)</script>" in page.body and "<u>f.sql</u>:1" in page.section_text["lint"]
    assert page.sections == list(SECTIONS)
    assert page.word == "NO-GO"
    assert all(c.text in page.body for c in DECISION_GATE)
    assert page.body.index("Decision Gate") < page.body.index("Every result")


def page_of(results: list[GateResult], **kwargs) -> ReportPage:
    return ReportPage(html(INFO, BATCH, results, **kwargs))


def test_the_banner_says_no_go_when_a_gate_fails_and_names_it():
    passed = [result("server_versions", Verdict.PASS, phase="preflight"),
              result("monitoring_enabled", Verdict.WARN, phase="preflight")]
    failed = result("orphan_integrity", Verdict.FAIL, phase="preflight", value="3 orphaned rows")
    assert page_of(passed).word == "GO"
    page = page_of([*passed, failed])
    assert page.word == "NO-GO"
    banner = page.section_text["verdict"]
    assert f"{failed.title}: {failed.value}" in banner and passed[1].title not in banner
    assert page_of([]).word == "NO-GO"  # nothing measured is nothing to approve


def test_once_the_rollout_ended_the_banner_shows_its_outcome_above_the_gates():
    from gonogo.reporting.outcome import decide

    end = decide(gates_report="body", approval=Decision(choice="Approve"), applied=None, watched=None)
    page = page_of([result("server_versions", Verdict.PASS, phase="preflight")], outcome=end)
    assert page.word == "ROLLED BACK"
    banner = page.section_text["verdict"]
    assert end.summary in banner and "Gates before the approval: GO" in banner


def test_sections_without_data_say_not_measured_and_why():
    page = page_of([result("server_versions", Verdict.PASS, phase="preflight")])
    assert set(page.not_measured) == {"locks", "latency", "lint"}
    assert len(page.not_measured["latency"]) == 2  # the dry run's queries and the watch window
    assert all(line.startswith("not measured in this run (") for lines in page.not_measured.values()
               for line in lines)
    assert not page.bars and "svg" not in page.tags
    assert not {"table", "svg"} & (page.section_tags["locks"] | page.section_tags["latency"]
                                   | page.section_tags["lint"])  # never an empty table


def test_the_watch_windows_query_latency_is_charted_against_its_baseline():
    from collections import Counter

    from gonogo.watching.analysis import Analysis, Metric

    queries = [q.name for q in BATCH.queries[:3]]
    metrics = [Metric(f"query_ms:{name}", name, "SELECT 1", kind="ratio", unit=" ms", max_ratio=1.5, floor=2)
               for name in queries] + [Metric("deadlocks", "Deadlocks", "SELECT 1", kind="delta", max=0)]
    analysis = Analysis(metrics, {m.name: (100.0, 10.0) for m in metrics}, window_seconds=60)
    analysis.observe({m.name: (130.0, 20.0) for m in metrics}, 30)  # total ms and calls, cumulative
    analysis.observe({m.name: (200.0, 30.0) for m in metrics}, 60)
    analysis.finish()
    page = page_of(analysis.results())
    watch = [bar.rsplit("--", 1)[1] for bar in page.bars if bar.startswith("bar--watch--")]
    assert Counter(watch) == {name: 3 for name in queries}  # baseline, median and slowest interval
    assert {"10 ms", "5 ms", "7 ms"} <= set(page.svg_texts)  # 100/10 before; 30/10 and 70/10 in the window
    [missing] = page.not_measured["latency"]  # the dry run's chart, not the watch window's
    assert "dry run" in missing and "watch" not in missing


def test_lint_findings_show_where_and_the_fix_for_each():
    from gonogo.lint import lint_batch

    linted = lint_batch(BATCH)
    findings = [d for r in linted for d in r.details]
    assert findings  # the shipped batch has warnings (the trigger's lock, the disabled cleanup)
    page = page_of(linted)
    lint = page.section_text["lint"]
    for d in findings:
        assert f"{d['file']}:{d['line']}" in lint
        assert d["rule"] in lint and d["help"] in lint
    assert "lint" not in page.not_measured


def test_schema_diff_leaves_out_only_the_objects_in_flux():
    from gonogo.postgres.schema import Schema, diff

    before = Schema((("table", 'public."Recipe"', "r"),))
    after = Schema((("table", 'public."Recipe"', "r"),
                    ("function", "public.sync_recipe_category()", "md5"),
                    ("trigger", 'public."Recipe".sync_recipe_category_trigger', "def"),
                    ("index", "public.idx_other", "def")))
    in_flux = frozenset({"sync_recipe_category", "sync_recipe_category_trigger"})
    assert diff(before, after, in_flux) == ["+ index public.idx_other: def"]
    assert len(diff(before, after)) == 3


def test_counts_are_given_per_part_of_the_run_never_mixed():
    """3 warnings before the approval and 21 in the watch window: the gates line speaks of the 3."""
    from gonogo.reporting.outcome import Outcome

    results = ([result("lint", Verdict.WARN, subject=f"s{i}") for i in range(3)]
               + [result("step_applied", Verdict.PASS, phase="production", subject="s0")]
               + [result("watch_metric", Verdict.WARN, phase="watch", subject=f"q{i}") for i in range(21)])
    page = ReportPage(html(INFO, BATCH, results, Outcome("completed", "6 steps applied", False)))
    assert "Gates before the approval: GO — no gate failed; 3 warnings to read" in page.body
    assert "Before the approval: 0 pass · 3 warn · 0 fail" in page.body
    assert "Production: 1 pass · 0 warn · 0 fail" in page.body
    assert "Watch window: 0 pass · 21 warn · 0 fail" in page.body


def test_nothing_to_apply_is_said_everywhere_not_not_measured():
    from gonogo.apply import history
    from gonogo.reporting.outcome import nothing_to_apply

    done = [history.applied_before(s, history.Applied(s.name, s.forward.sha256, "applied", "run_1", "2026-12-01"),
                                   "preflight") for s in BATCH.enabled_steps]
    end = nothing_to_apply(done, ["cleanup"])
    rows = evaluate(done, end)
    assert all(r["verdict"] is None and "every enabled step was applied before" in r["evidence"]
               for r in rows if r["condition"] != "Cleanup enabled only after a week of stable metrics")
    page = ReportPage(html(INFO, BATCH, done, end))
    assert page.word == "NOTHING TO APPLY" and "Gates before the approval" not in page.body
    assert "0 steps to apply, 6 applied before, 1 disabled" in page.body and "not measured" not in page.body


def test_the_approval_body_says_what_an_approve_starts_and_links_the_report_tab():
    info = RunInfo(**{**INFO.to_dict(), "report_url": "http://airflow.local/run/1/plugin/gonogo_report"})
    body = approval_markdown(info, BATCH, [result("lint", Verdict.PASS)], after="**If you approve:** x")
    assert "**If you approve:** x" in body and "/artifacts/" not in body
    assert "[the Go/No-Go report tab](http://airflow.local/run/1/plugin/gonogo_report)" in body
    from gonogo.reporting.report import after_approval
    assert after_approval(6, 48, "22:00–04:00 UTC") == (
        "**If you approve:** a backup and a restore point, then 6 steps applied on production inside the low-traffic "
        "window 22:00–04:00 UTC; then production is watched for 48 h: the run stays *running* until the watch "
        "window ends — that is expected.")
    assert "watched for 30 s:" in after_approval(1, 30 / 3600)  # a short window in words, not "0.00833333 h"


def test_steps_a_rollback_left_alone_are_not_counted_as_applied_before():
    """A trial: step 4 of 6 failed, on-call rolled back; steps 5 and 6 never ran and their rollback
    nodes said "nothing to undo". The headline read "4 steps to apply, 2 applied before"."""
    from gonogo.apply import history
    from gonogo.apply.production import _left_alone
    from gonogo.reporting.report import step_counts

    first, *_, fifth, sixth = BATCH.enabled_steps
    results = [history.applied_before(first, history.Applied(first.name, first.forward.sha256, "applied", "run_1",
                                                             "2026-12-01"), "preflight"),
               *(_left_alone(s.name, "not applied by this run: nothing to undo", "") for s in (fifth, sixth))]
    counts = step_counts(BATCH, results)
    assert (counts["to_apply"], counts["applied_before"]) == (len(BATCH.enabled_steps) - 1, 1), counts
