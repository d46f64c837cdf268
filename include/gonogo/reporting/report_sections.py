"""What each section of the HTML report shows, shaped from GateResults for the template.

A section with nothing measured says so and why (its `why`), never shows an empty table or a
made-up value.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import TYPE_CHECKING

from gonogo.reporting import charts
from gonogo.postgres.locks import LOCK_MODES
from gonogo.results import GateResult, Verdict, failures, overall, plural

if TYPE_CHECKING:
    from gonogo.batch import Batch
    from gonogo.reporting.outcome import Outcome

PHASES = {"preflight": "Preflight: production and the SQL", "dry_run": "Dry run on the staging copy",
          "rehearsal": "Rollback rehearsal on the staging copy", "decision": "Sign-off",
          "production": "Production",
          "watch": "Watch window on production"}
_OUTCOMES = {"completed": "ROLLED OUT", "rejected": "REJECTED", "rolled_back": "ROLLED BACK",
             "fixing_forward": "FIXING FORWARD", "watch_alarm": "WATCH ALARM", "stopped": "STOPPED",
             "nothing_to_apply": "NOTHING TO APPLY"}
_RANK = {mode: i for i, mode in enumerate(LOCK_MODES)}
# Weaker modes block neither the app's reads and writes nor other schema changes.
_SHOWN_FROM = _RANK["SHARE UPDATE EXCLUSIVE"]
_WATCHED_QUERY = "query_ms:"  # gonogo.watching.watch's metric per top query



def banner(results: list[GateResult], outcome: Outcome | None) -> dict:
    """GO / NO-GO and the one-line reason; once the rollout has ended, its outcome on top."""
    if outcome is not None:  # the gates line speaks of what the approver saw, not of later phases
        results = [r for r in results if r.phase in BEFORE_APPROVAL] or results
    verdict, failed = overall(results), failures(results)
    warned = sum(r.verdict is Verdict.WARN for r in results)
    if not results:
        reason = "no gate was measured: nothing to approve"
    elif failed:
        named = "; ".join(f"{r.title}{f' ({r.subject})' if r.subject else ''}: {r.value}" for r in failed[:3])
        reason = f"{plural(len(failed), 'gate')} failed: {named}" + (
            f" (and {len(failed) - 3} more)" if len(failed) > 3 else "")
    elif warned:
        reason = f"no gate failed; {plural(warned, 'warning')} to read"
    else:
        reason = "all gates passed"
    gates = {"word": "NO-GO" if verdict is Verdict.FAIL else "GO", "css": verdict.value, "reason": reason}
    if outcome is None:
        return {**gates, "gates": None}
    if outcome.kind == "nothing_to_apply":  # no gate ran and nobody was asked
        gates = None
    return {"word": _OUTCOMES.get(outcome.kind, outcome.kind.upper()), "css": "PASS" if outcome.ok else "FAIL",
            "reason": outcome.summary, "gates": gates}


# The phases the approver's Go/No-Go is made of; later ones are counted apart.
BEFORE_APPROVAL = ("preflight", "dry_run", "rehearsal")
_COUNTED = (("Before the approval", BEFORE_APPROVAL), ("Sign-off", ("decision",)), ("Production", ("production",)),
            ("Watch window", ("watch",)))
_COUNTED_PHASES = {phase for _, phases in _COUNTED for phase in phases}


def counts_by_phase(results: list[GateResult]) -> list[dict]:
    """Pass / warn / fail per part of the run (before the approval, production, the watch window),
    never mixed; parts with no result are left out."""
    rows = []
    for title, phases in (*_COUNTED, ("Other", None)):
        own = [r for r in results if (r.phase in phases if phases else r.phase not in _COUNTED_PHASES)]
        if own:
            rows.append({"title": title, **{v.value: sum(1 for r in own if r.verdict is v) for v in Verdict}})
    return rows


def by_phase(results: list[GateResult]) -> list[dict]:
    """Every result under its phase (in the order a run goes through them), failures first."""
    order = list(PHASES)
    phases = sorted({r.phase for r in results}, key=lambda p: (order.index(p) if p in order else len(order), p))
    return [{"title": PHASES.get(phase, phase or "Other"),
             "results": sorted((r for r in results if r.phase == phase), key=lambda r: -r.verdict.rank)}
            for phase in phases]


def lock_holds(results: list[GateResult], budget_seconds: float) -> dict:
    """Per traced step (and the rollbacks): the strongest lock on each relation and how long it was
    held, flagged when an app-blocking hold on it went over the budget. Locks weaker than SHARE
    UPDATE EXCLUSIVE block nobody the app runs: they are listed in one line."""
    steps = []
    for r in results:
        if r.gate != "lock_budget":
            continue
        per_relation = defaultdict(list)
        for d in r.details:
            per_relation[d["relation"]].append(d)
        rows, weaker = [], defaultdict(list)
        for relation, holds in per_relation.items():
            top = max(holds, key=lambda d: (_RANK.get(d["mode"], -1), d["held_seconds"] or 0))
            over = [d for d in holds if d["blocks_app"] and (d["held_seconds"] or 0) > budget_seconds]
            rewritten = any(d["rewritten"] for d in holds)
            if _RANK.get(top["mode"], _SHOWN_FROM) < _SHOWN_FROM and not rewritten and not over:
                weaker[top["mode"]].append(relation)
                continue
            # The other end of a foreign key (ADD/DROP FOREIGN KEY lock the referenced table too).
            role = top.get("role") or next((d["role"] for d in holds if d.get("role")), "")
            rows.append({"relation": relation, "mode": top["mode"] or "—", "held_seconds": top["held_seconds"],
                         "role": role,
                         "sampled": top["sampled"], "line": top["line"], "statement": top["statement"],
                         "blocks": top["blocks"], "rewritten": rewritten,
                         "over": max(over, key=lambda d: d["held_seconds"], default=None)})
        rows.sort(key=lambda row: (row["over"] is None, -_RANK.get(row["mode"], -1), -(row["held_seconds"] or 0)))
        steps.append({"phase": PHASES.get(r.phase, r.phase), "subject": r.subject, "verdict": r.verdict.value,
                      "value": r.value, "rows": rows,
                      "weaker": [{"mode": mode, "relations": names} for mode, names in
                                 sorted(weaker.items(), key=lambda item: -_RANK.get(item[0], -1))]})
    if any(r.phase == "production" and r.gate == "step_applied" for r in results):
        production = ("not traced: the trace runs on the staging copy; on production each statement ran "
                      "under the lock timeout, retried when it timed out")
    else:
        production = "not run yet: production comes after the approval"
    return {"steps": steps, "budget": budget_seconds, "production": production,
            "why": None if steps else "not measured in this run (the dry run applied no step)"}


def latency(batch: Batch, results: list[GateResult]) -> dict:
    """The app's queries before the batch and after the last step the dry run measured, as a chart,
    and every per-step change worth a look (a verdict other than "same", or a new plan)."""
    measured = [r for r in results if r.gate == "query_latency" and r.details]
    if not measured:
        why = ("the batch's manifest declares no queries" if not batch.queries
               else "the dry run stopped before any step's plans were compared")
        return {"svg": None, "why": f"not measured in this run ({why})", "changes": []}
    last = measured[-1]  # its before_ms is the baseline, its after_ms after the last step
    enabled = [s.name for s in batch.enabled_steps]
    after = ("after the dry run" if enabled and last.subject == enabled[-1]
             else f"after {last.subject} (the dry run stopped there)")
    names = [d["name"] for d in last.details]
    svg = charts.grouped_bars("latency", names, {"before the batch": [d["before_ms"] for d in last.details],
                                                 after: [d["after_ms"] for d in last.details]})
    return {"svg": _safe(svg), "why": None, "changes": _latency_changes(measured), "after": after,
            "threshold": last.threshold}


def _latency_changes(measured: list[GateResult]) -> list[dict]:
    """The rows where a step changed something: a plan other than the previous step's, a verdict
    (improved, ...) it did not have after the previous step, and every regression or break."""
    previous: dict[str, tuple] = {}
    changes = []
    for r in measured:
        for d in r.details:
            state = (d["plan_after"], d["verdict"])
            plan, verdict = previous.get(d["name"], (d["plan_before"], "same"))
            if (d["verdict"] in ("regressed", "broken") or d["plan_after"] != plan
                    or d["verdict"] not in ("same", "still broken", verdict)):
                changes.append({"step": r.subject, **d})
            previous[d["name"]] = state
    return changes


def watch_latency(results: list[GateResult]) -> dict:
    """Each top query's mean time per call on production in the watch window: the baseline read
    before the batch, the median interval and the slowest one."""
    watched = [r for r in results if r.gate == "watch_metric"]
    queries = [r for r in watched if r.subject.startswith(_WATCHED_QUERY)]
    if not queries:
        why = ("no query latency metric: pg_stat_statements knew none of the batch's queries" if watched
               else "the watch window comes after the approval and the production rollout")
        return {"svg": None, "why": f"not measured in this run ({why})"}
    series = {"baseline before the batch": [], "median interval": [], "slowest interval": []}
    for r in queries:
        values = [d["value"] for d in r.details if d["value"] is not None]
        baselines = [d.get("baseline") for d in r.details if d.get("baseline") is not None]
        series["baseline before the batch"].append(baselines[0] if baselines else None)
        series["median interval"].append(statistics.median(values) if values else None)
        series["slowest interval"].append(max(values, default=None))
    svg = charts.grouped_bars("watch", [r.subject.removeprefix(_WATCHED_QUERY) for r in queries], series)
    return {"svg": _safe(svg), "why": None}


def lint_findings(batch: Batch, results: list[GateResult]) -> dict:
    """Every finding with its fix, errors first, then by file and line."""
    linted = [r for r in results if r.gate == "lint"]
    if not linted:
        return {"rows": [], "why": "not measured in this run (the lint did not run)", "steps": 0}
    disabled = {s.name for s in batch.steps if not s.enabled}
    rows = [{**d, "step": r.subject, "disabled": r.subject in disabled} for r in linted for d in r.details]
    rows.sort(key=lambda d: ({"error": 0, "warning": 1}.get(d["level"], 2), d["file"], d["line"]))
    return {"rows": rows, "why": None, "steps": len(linted)}


def _safe(svg: str):
    """The chart is the one piece of markup the template does not escape: matplotlib wrote it,
    escaping every label."""
    from markupsafe import Markup

    return Markup(svg)
