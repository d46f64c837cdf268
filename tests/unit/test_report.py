"""The Go/No-Go report rendered from GateResults: verdicts per condition, and the files it writes."""

from __future__ import annotations

import json
import os
import stat

import pytest

from gonogo.batch import load_batch
from gonogo.report import DECISION_GATE, RunInfo, approval_markdown, evaluate, write_reports
from gonogo.results import GateResult, Verdict, overall

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
    from html.parser import HTMLParser

    hostile = result("lint", Verdict.FAIL, subject=BATCH.steps[0].name, phase="preflight")
    hostile = GateResult(**{**hostile.to_dict(), "verdict": Verdict.FAIL, "message": "<script>alert(1)</script>",
                            "details": [{"statement": "<i>DROP</i>", "lock": "ACCESS EXCLUSIVE"}]})
    write_reports(tmp_path, INFO, BATCH, [result("server_versions", Verdict.PASS, phase="preflight"), hostile])
    page = (tmp_path / "report.html").read_text()

    class Collect(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags, self.text, self.verdict, self._in_verdict = [], [], None, False

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)
            self._in_verdict = ("class", "verdict FAIL") in attrs

        def handle_data(self, data):
            self.text.append(data)
            if self._in_verdict and self.verdict is None:
                self.verdict = data.strip()

    parsed = Collect()
    parsed.feed(page)
    assert "script" not in parsed.tags and "i" not in parsed.tags  # shown as text, never run
    assert "<script>alert(1)</script>" in "".join(parsed.text)
    assert parsed.verdict == "FAIL"
    body = "".join(parsed.text)
    assert all(c.text in body for c in DECISION_GATE)
    assert body.index("Decision Gate") < body.index("Every result")


def test_schema_diff_leaves_out_only_the_objects_in_flux():
    from gonogo.schema import Schema, diff

    before = Schema((("table", 'public."Recipe"', "r"),))
    after = Schema((("table", 'public."Recipe"', "r"),
                    ("function", "public.sync_recipe_category()", "md5"),
                    ("trigger", 'public."Recipe".sync_recipe_category_trigger', "def"),
                    ("index", "public.idx_other", "def")))
    in_flux = frozenset({"sync_recipe_category", "sync_recipe_category_trigger"})
    assert diff(before, after, in_flux) == ["+ index public.idx_other: def"]
    assert len(diff(before, after)) == 3
