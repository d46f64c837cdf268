"""The Go/No-Go report: the seed's Decision Gate with each condition's measured evidence.

Rendered from GateResults only. A condition no gate has measured is shown as not
measured, never as passed.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from gonogo.reporting import report_sections as sections
from gonogo.artifacts import write_private
from gonogo.batch import Batch
from gonogo.results import GateResult, Verdict, overall

if TYPE_CHECKING:
    from gonogo.reporting.outcome import Outcome

ICON = {Verdict.PASS: "✅", Verdict.WARN: "⚠️", Verdict.FAIL: "❌"}
NOT_MEASURED, LATER, HUMAN, WINDOW, NOT_ENABLED = "not measured", "after approval", "human", "window", "not enabled"
NOTHING = "nothing to apply"


@dataclass(frozen=True)
class Condition:
    text: str                 # the seed's Decision Gate line
    gates: tuple[str, ...]    # gate ids whose results are the evidence
    phases: tuple[str, ...] = ("preflight", "dry_run", "rehearsal")
    note: str = ""            # shown when no result is there


DECISION_GATE = (
    Condition("All staging tests pass", ("contract_tests",)),
    Condition("Required tables present (no schema drift)", ("required_tables", "schema_drift")),
    Condition("Orphans = 0 (no orphaned foreign key references)", ("orphan_integrity",)),
    Condition("Data meets every new unique key and CHECK", ("preconditions",)),
    Condition("Query latency not worse for any top-10 query", ("query_latency",)),
    Condition("No long locks during migration rehearsal", ("lock_budget", "lock_waits")),
    Condition("Backfill yields 100% mapped rows with zero data loss", ("step_verified",)),
    Condition("Row counts unchanged by every step", ("row_counts_unchanged",)),
    Condition("All FKs validated (no NOT VALID constraints remaining)", ("objects_valid",)),
    Condition("All indexes valid and ready", ("objects_valid",)),
    Condition("Migrations apply cleanly on the staging copy", ("step_applied",)),
    Condition("No applied migration edited since it ran", ("applied_history",)),
    Condition("Cleanup enabled only after a week of stable metrics", ("enabled_steps",), note=NOT_ENABLED),
    Condition("Lock-safety audit of the SQL (static lint)", ("lint",)),
    Condition("Rollback procedures tested on staging", ("rollback_rehearsal",)),
    Condition("Staging runs production's PostgreSQL version", ("server_versions",)),
    Condition("Required extensions and privileges", ("extensions", "privileges")),
    Condition("Observability compared before and after the dry run", ("observability",)),
    Condition("Monitoring enabled", ("monitoring_enabled",)),
    Condition("Team reviewed and approved", ("sign_off",), phases=("decision",), note=HUMAN),
    Condition("Low-traffic window scheduled", (), note=WINDOW),
    Condition("Backup created", ("backup_verified",), phases=("production",), note=LATER),
    Condition("Restore point created", ("restore_point",), phases=("production",), note=LATER),
    Condition("Production healthy through the watch window", ("watch_metric",), phases=("watch",), note=LATER),
)

_NOTES = {
    NOT_MEASURED: "not measured by this version of gonogo — check it by hand",
    LATER: "taken after approval, before the first migration; the rollout stops if it fails",
    HUMAN: "your decision: approving this task is the sign-off",
    WINDOW: "your decision: approve when the traffic is low; the apply starts right after",
    NOT_ENABLED: "no disabled step is enabled in this run",
    NOTHING: "nothing to check: every enabled step was applied before, so none ran in this run",
}


@dataclass(frozen=True)
class RunInfo:
    dag_id: str
    run_id: str
    batch_id: str
    batch_title: str
    run_url: str = ""
    report_url: str = ""  # the HTML report as the Airflow plugin serves it

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate(results: list[GateResult], outcome: Outcome | None = None) -> list[dict]:
    """Each Decision Gate condition with its verdict (or why it has none) and its evidence."""
    nothing = outcome is not None and outcome.kind == "nothing_to_apply"
    rows = []
    for condition in DECISION_GATE:
        evidence = [r for r in results if r.gate in condition.gates and r.phase in condition.phases]
        if evidence:
            verdict = overall(evidence)
            if len(evidence) == 1:
                summary = evidence[0].value
            elif verdict is Verdict.PASS:
                summary = f"all {len(evidence)} checks pass"
            else:
                worst = [r for r in evidence if r.verdict is verdict]
                summary = f"{len(worst)} of {len(evidence)} {verdict.value}: " + "; ".join(
                    f"{r.subject + ': ' if r.subject else ''}{r.value}" for r in worst[:3])
            rows.append({"condition": condition.text, "verdict": verdict.value, "evidence": summary,
                         "results": len(evidence)})
        else:
            note = NOTHING if nothing and condition.note != NOT_ENABLED else condition.note or NOT_MEASURED
            rows.append({"condition": condition.text, "verdict": None, "evidence": _NOTES[note],
                         "results": 0})
    return rows


# What the approval body shows per step (the full report has every result).
_STEP_SUMMARY = ("step_skipped", "step_applied", "lock_budget", "query_latency", "contract_tests")
# Measurements that read like alarms without their threshold beside them ("6.1x (+0.7 ms)").
_BESIDE = ("lock_budget", "query_latency", "lock_waits")
# Columns of the report's step table: (gate id, heading).
_STEP_COLUMNS = (("step_skipped", "Applied before"), ("preconditions", "Data allows it"), ("step_applied", "Applied"),
                 ("objects_valid", "Objects valid"), ("step_verified", "Verified"),
                 ("row_counts_unchanged", "Row counts"), ("lock_budget", "Longest lock"),
                 ("lock_waits", "App lock waits"), ("query_latency", "Query latency"),
                 ("contract_tests", "Contracts"))

def _icon(verdict: str | None) -> str:
    return ICON[Verdict(verdict)] if verdict else "⬜"


def approval_markdown(info: RunInfo, batch: Batch, results: list[GateResult], after: str = "") -> str:
    """The approval task's body: verdict first, what an Approve starts (`after`), the Decision
    Gate, then the dry run per step."""
    verdict = overall(results)
    counts = {v: sum(1 for r in results if r.verdict is v) for v in Verdict}
    enabled = [f"- ⚠️ **This run ENABLES the disabled step `{s.name}`** — disabled because: {s.disabled_reason}"
               for s in batch.explicitly_enabled]
    lines = [*enabled, *([""] if enabled else []),
        f"### {ICON[verdict]} Measured gates: **{verdict.value}** "
        f"({counts[Verdict.PASS]} pass, {counts[Verdict.WARN]} warn, {counts[Verdict.FAIL]} fail)",
        "",
        f"Batch `{batch.id}` — {batch.title}. {step_counts(batch, results)['line']}.",
        "",
        *([after, ""] if after else []),
        "**Decision Gate**",
        "",
    ]
    for row in evaluate(results):
        lines.append(f"- {_icon(row['verdict'])} **{row['condition']}** — {row['evidence']}")
    lines += ["", "**Dry run on the staging copy, in order**", ""]
    for step in batch.enabled_steps:
        own = [r for r in results if r.phase == "dry_run" and r.subject == step.name]
        if not own:
            lines.append(f"{step.order}. `{step.name}` — not run (an earlier step failed)")
            continue
        parts = "; ".join(f"{r.title.lower()}: {r.value}" + (f" (threshold {r.threshold})" if r.gate in _BESIDE else "")
                          for r in own if r.gate in _STEP_SUMMARY or r.verdict is not Verdict.PASS)
        lines.append(f"{step.order}. {ICON[overall(own)]} `{step.name}` ({_how(step)}) — {parts}")
    disabled = [s for s in batch.steps if not s.enabled]
    if disabled:
        lines += ["", "**Disabled, not applied**", ""]
        lines += [f"- `{s.name}` — {s.disabled_reason}" for s in disabled]
    problems = [r for r in results if r.verdict is not Verdict.PASS]
    if problems:
        lines += ["", "**To look at**", ""]
        lines += [f"- {ICON[r.verdict]} {r.title}{' (' + r.subject + ')' if r.subject else ''}: "
                  f"{r.message}{' — ' + r.hint if r.hint else ''}" for r in problems]
    if info.report_url:
        lines += ["", f"Full report, with every measurement: [the Go/No-Go report tab]({info.report_url})"]
    return "\n".join(lines)


def step_counts(batch: Batch, results: list[GateResult]) -> dict:
    """How many enabled steps this run applies, how many production had applied before (the
    results say which), how many are disabled."""
    before = {r.subject for r in results if r.gate == "step_skipped" and r.subject}
    counts = {"to_apply": sum(1 for s in batch.enabled_steps if s.name not in before),
              "applied_before": sum(1 for s in batch.enabled_steps if s.name in before),
              "disabled": len(batch.steps) - len(batch.enabled_steps)}
    parts = [f"{counts['to_apply']} step{'' if counts['to_apply'] == 1 else 's'} to apply"]
    parts += [f"{counts['applied_before']} applied before"] if counts["applied_before"] else []
    parts += [f"{counts['disabled']} disabled"] if counts["disabled"] else []
    return {**counts, "line": ", ".join(parts)}


def _how(step) -> str:
    """How a step runs and who wrote its rollback, in a few words."""
    return f"{step.runs_as}; rollback {step.rollback_source}"


def full_markdown(info: RunInfo, batch: Batch, results: list[GateResult]) -> str:
    """The whole report kept with the run: the approval summary plus every result's details."""
    lines = [f"# Go/No-Go report — {batch.title}", "",
             f"Run `{info.run_id}` of `{info.dag_id}`, generated {_now()}.", "",
             approval_markdown(info, batch, results), "", "## Every result", ""]
    for r in results:
        where = " · ".join(x for x in (r.phase, r.subject) if x)
        lines += [f"### {ICON[r.verdict]} {r.title} ({where})", "",
                  f"- measured: {r.value}", f"- threshold: {r.threshold}", f"- {r.message}"]
        if r.hint:
            lines.append(f"- what to do: {r.hint}")
        for d in r.details[:50]:
            lines.append("  - " + ", ".join(f"{k}: {v}" for k, v in d.items()))
        lines.append("")
    return "\n".join(lines)


def html(info: RunInfo, batch: Batch, results: list[GateResult], outcome: Outcome | None = None) -> str:
    """The report as one self-contained HTML page (Jinja2, autoescaped): the verdict, the gates,
    the locks per step, query latency as a chart, the lint findings; then every detail."""
    steps = []
    for step in batch.steps:
        own = [r for r in results if r.phase == "dry_run" and r.subject == step.name]
        cells = {}
        for r in own:
            cells[r.gate] = f"{cells[r.gate]}; {r.value}" if r.gate in cells else r.value
        steps.append({"order": step.order, "name": step.name, "kind": step.kind, "enabled": step.enabled,
                      "runs": step.runs_as, "rollback": step.rollback_source,
                      "verdict": overall(own).value if own else None, "cells": cells})
    return _template().render(
        run=info, batch={"id": batch.id, "title": batch.title, **step_counts(batch, results)},
        generated_at=_now(), banner=sections.banner(results, outcome),
        phases=sections.by_phase(results), decision_gate=evaluate(results, outcome),
        phase_counts=sections.counts_by_phase(results),
        nothing=_NOTES[NOTHING] if outcome is not None and outcome.kind == "nothing_to_apply" else "",
        locks=sections.lock_holds(results, batch.thresholds.lock_budget_seconds),
        latency=sections.latency(batch, results), watch_latency=sections.watch_latency(results),
        lint=sections.lint_findings(batch, results), steps=steps,
        step_columns=[{"id": gate, "title": title} for gate, title in _STEP_COLUMNS], results=results)


@functools.cache
def _template():
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parents[1] / "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["cell"] = lambda v: ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else ("" if v is None else v)
    return env.get_template("report.html.j2")


def write_reports(folder: Path, info: RunInfo, batch: Batch, results: list[GateResult],
                  outcome: Outcome | None = None) -> dict[str, str]:
    """report.md, report.html and report.json in the run's artifacts folder (0600). outcome: how
    the rollout ended, once it has (the HTML banner then shows it above the gates' verdict)."""
    payload = {"run": info.to_dict(), "batch": {"id": batch.id, "title": batch.title,
                                                "checksums": batch.checksums()},
               "generated_at": _now(), "verdict": overall(results).value,
               "decision_gate": evaluate(results, outcome), "results": [r.to_dict() for r in results]}
    md = write_private(folder / "report.md", full_markdown(info, batch, results))
    page = write_private(folder / "report.html", html(info, batch, results, outcome))
    js = write_private(folder / "report.json", json.dumps(payload, indent=2, default=str))
    return {"markdown": str(md), "html": str(page), "json": str(js)}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def after_approval(to_apply: int, watch_hours: float, window: str = "") -> str:
    """What an Approve starts, and how long the run then stays running."""
    from gonogo.apply.progress import duration

    watched = f"{watch_hours:g} h" if watch_hours >= 1 else duration(watch_hours * 3600)  # not "0.00833333 h"
    watch = (f"then production is watched for {watched}: the run stays *running* until the watch window "
             f"ends — that is expected" if watch_hours else "no watch window (monitoring_hours is 0)")
    return (f"**If you approve:** a backup and a restore point, then {to_apply} step{'' if to_apply == 1 else 's'} "
            f"applied on production{f' inside the low-traffic window {window}' if window else ''}; {watch}.")


def go_no_go(folder: Path, info: RunInfo, batch: Batch, results: list[GateResult], after: str = "") -> str:
    """Write the report; raise GatesFailed on any FAIL (the run stops before the approval);
    otherwise return the approval body."""
    from gonogo.errors import GatesFailed

    write_reports(folder, info, batch, results)
    if any(r.failed for r in results):
        raise GatesFailed(results)
    return approval_markdown(info, batch, results, after)
