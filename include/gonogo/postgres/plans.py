"""Query plans of the app's top queries, before the batch and after each migration.

`measure` runs EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) of every top query a few times, after
one warm-up run, and keeps the median; `compare` is the gate: no top query got slower by more
than both the ratio and the absolute floor, and none that worked before fails now. What a
slower query means is gonogo.watching.judge's, the watch window's judgement: another plan or more pages
(which a busy machine does not cause), or runs slower by a rank test than the control queries
(ones that touch none of the batch's tables) were; more pages on a table the batch rewrote,
full of dead tuples, is VACUUM (ANALYZE), a WARN. Plan changes and improvements are shown too.

A PlanSample is a small JSON-able dict once `to_dict`-ed (it travels through XCom); the full
EXPLAIN output stays out of it unless asked for (`keep_raw=True`, for the report files).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from gonogo.watching import judge
from gonogo.authoring.queries import Query
from gonogo.results import GateResult, Verdict

GATE, TITLE = "query_latency", "Query latency not worse for any top query"
_EXPLAIN = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "

# (node type, relation, index): ("Seq Scan", "SalesRecord", None),
# ("Bitmap Index Scan", None, "idx_sales_record_analytics")
Scan = tuple[str, str | None, str | None]


@dataclass(frozen=True)
class PlanSample:
    """One top query measured: median times of `runs` EXPLAIN ANALYZE runs, buffers and plan
    shape of the median run; or the error it raised."""

    name: str
    execution_ms: float | None = None
    planning_ms: float | None = None
    runs_ms: tuple[float, ...] = ()          # execution time of every counted run, in order
    shared_hit: int = 0                      # buffers of the median run
    shared_read: int = 0
    top_node: str = ""
    scans: tuple[Scan, ...] = ()             # in plan order, each once
    error: str | None = None
    cost: float | None = None                # the planner's estimate of the median run's plan
    raw: Any = field(default=None, repr=False, compare=False)  # the median run's EXPLAIN JSON

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def indexes(self) -> list[str]:
        return sorted({index for _, _, index in self.scans if index})

    def plan_text(self) -> str:
        """"Limit: Bitmap Heap Scan on SalesRecord, Bitmap Index Scan on idx_…" (or the error)."""
        if self.failed:
            return f"error: {self.error}"
        if not self.scans:
            return self.top_node
        return f"{self.top_node}: " + ", ".join(scan_text(s) for s in self.scans)

    def to_dict(self, *, raw: bool = False) -> dict[str, Any]:
        data = {"name": self.name, "execution_ms": self.execution_ms, "planning_ms": self.planning_ms,
                "runs_ms": list(self.runs_ms), "shared_hit": self.shared_hit,
                "shared_read": self.shared_read, "top_node": self.top_node,
                "scans": [list(s) for s in self.scans], "error": self.error, "cost": self.cost}
        if raw:
            data["raw"] = self.raw
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlanSample:
        return cls(**{**data, "runs_ms": tuple(data.get("runs_ms", ())),
                      "scans": tuple(tuple(s) for s in data.get("scans", ()))})


def scan_text(scan: Scan) -> str:
    """As EXPLAIN's text format says it: "Index Scan using idx on T", "Bitmap Index Scan on idx"."""
    node, relation, index = scan
    if index and relation:
        return f"{node} using {index} on {relation}"
    return f"{node} on {index or relation}"


def median_run(times: list[float]) -> int:
    """Index of the median run (the lower middle one for an even count)."""
    if not times:
        raise ValueError("no runs to take the median of")
    order = sorted(range(len(times)), key=lambda i: times[i])
    return order[(len(times) - 1) // 2]


def plan_scans(plan: dict) -> tuple[Scan, ...]:
    """Every node of an EXPLAIN JSON plan tree that reads a relation or an index, depth first."""
    found: dict[Scan, None] = {}

    def walk(node: dict) -> None:
        if "Relation Name" in node or "Index Name" in node:
            found[(node["Node Type"], node.get("Relation Name"), node.get("Index Name"))] = None
        for child in node.get("Plans", ()):
            walk(child)

    walk(plan)
    return tuple(found)


def explain(conn: psycopg.Connection, query: Query) -> dict:
    """One EXPLAIN ANALYZE run, in a transaction that is rolled back: a top query that writes
    leaves nothing behind. Parameters are bound server-side; prepare=False keeps psycopg from
    switching to a prepared (generic) plan after a few runs."""
    with conn.transaction(force_rollback=True):
        row = conn.execute(_EXPLAIN + query.sql, query.params or None, prepare=False).fetchone()
    return row[0][0]


def measure(conn: psycopg.Connection, queries, *, runs: int = 5,
            keep_raw: bool = False) -> dict[str, PlanSample]:
    """{query name: PlanSample}; a query that errors is recorded with its error, not raised."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    samples = {}
    for query in queries:
        try:
            explain(conn, query)  # warm-up: caches and catalog lookups, not counted
            outputs = [explain(conn, query) for _ in range(runs)]
        except psycopg.Error as exc:
            primary = exc.diag.message_primary or str(exc).strip() or type(exc).__name__
            samples[query.name] = PlanSample(query.name, error=f"{primary} (SQLSTATE {exc.sqlstate})")
            continue
        times = [out["Execution Time"] for out in outputs]
        middle = outputs[median_run(times)]
        plan = middle["Plan"]
        samples[query.name] = PlanSample(
            name=query.name,
            execution_ms=round(statistics.median(times), 3),
            planning_ms=round(statistics.median(out["Planning Time"] for out in outputs), 3),
            runs_ms=tuple(round(t, 3) for t in times),
            shared_hit=plan.get("Shared Hit Blocks", 0), shared_read=plan.get("Shared Read Blocks", 0),
            top_node=plan["Node Type"], scans=plan_scans(plan), cost=plan.get("Total Cost"),
            raw=middle if keep_raw else None)
    return samples


def confirm(conn: psycopg.Connection, queries, before, after: dict[str, PlanSample], *, runs: int,
            max_ratio: float, floor_ms: float, attempts: int = 2, log=print) -> dict[str, PlanSample]:
    """`after`, with every query that looks regressed measured again (up to `attempts` times, until
    it no longer does) and the fastest median kept: a real regression reproduces every time, a stall
    of the machine (autovacuum after a restore, a neighbour on the same cores) rarely twice in a row.
    Only suspects are re-run, so a clean step costs nothing extra."""
    before, kept = _as_samples(before), dict(after)

    def suspects() -> list:
        return [q for q in queries if q.name in kept and q.name in before
                and _row(q.name, before[q.name], kept[q.name], max_ratio, floor_ms)["verdict"]
                in ("regressed", SAME_WORK, AS_CONTROLS)]

    for _ in range(attempts):
        again = suspects()
        if not again:
            break
        for query, second in zip(again, measure(conn, again, runs=runs).values()):
            first = kept[query.name]
            if not second.failed and second.execution_ms < first.execution_ms:
                kept[query.name] = second
            log(f"   {query.name} looked slower ({first.execution_ms:.2f} ms against "
                f"{before[query.name].execution_ms:.2f} ms); measured again: "
                f"{'error' if second.failed else f'{second.execution_ms:.2f} ms'}")
    return kept


def to_dicts(samples: dict[str, PlanSample], *, raw: bool = False) -> dict[str, dict]:
    return {name: s.to_dict(raw=raw) for name, s in samples.items()}


def from_dicts(data: dict[str, dict]) -> dict[str, PlanSample]:
    return {name: PlanSample.from_dict(d) for name, d in (data or {}).items()}


def _as_samples(samples) -> dict[str, PlanSample]:
    return {name: s if isinstance(s, PlanSample) else PlanSample.from_dict(s) for name, s in samples.items()}


def _ratio(before: float, after: float) -> float:
    if before > 0:
        return after / before
    return 1.0 if after <= 0 else float("inf")


SAME_WORK, BLOATED, AS_CONTROLS = "slower, same work", "slower, dead tuples", "slower, as the controls"
STILL_BROKEN = "still broken"  # broke after an earlier step of the batch, and fails still


def _evidence(sample: PlanSample) -> judge.Evidence:
    return judge.Evidence(ms=sample.runs_ms, pages=(sample.shared_hit + sample.shared_read,), plan=sample.plan_text(),
                          scans=sample.scans, cost=sample.cost)


def _factors(controls: dict[str, tuple[PlanSample, PlanSample]] | None) -> tuple[list[float] | None, ...]:
    """The controls' slowdown per EXPLAIN ANALYZE run, before and after (None: no controls)."""
    pairs = [(b, a) for b, a in (controls or {}).values() if b and a and not b.failed and not a.failed]
    if not pairs:
        return None, None
    base = [list(b.runs_ms) for b, _ in pairs]
    return judge.control_factors(base, base), judge.control_factors(base, [list(a.runs_ms) for _, a in pairs])


def _judged(name: str, before: PlanSample, after: PlanSample, max_ratio: float, floor_ms: float, controls,
            dead: dict[str, float], rewritten: set[str]) -> judge.Judgement:
    before_factors, after_factors = _factors({n: c for n, c in (controls or {}).items() if n != name})
    found = judge.judge(name, _evidence(before), _evidence(after), before_factors=before_factors,
                        after_factors=after_factors, ratio=max_ratio, floor_ms=floor_ms)
    if found.fired == (judge.TIME,) and after_factors is None:
        # without controls a slower run is the machine as much as the step: not evidence alone
        found = judge.Judgement(found.name, (), found.reasons, found.figures)
    lost = sorted(set(before.indexes) - set(after.indexes))
    return judge.diagnose(found, _evidence(after), dead=dead, rewritten=rewritten, steps_naming={}, lost=lost)


def _row(name: str, before: PlanSample | None, after: PlanSample | None, max_ratio: float,
         floor_ms: float, controls=None, dead: dict[str, float] | None = None,
         rewritten: set[str] = frozenset()) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name,
                           "before_ms": before.execution_ms if before else None,
                           "after_ms": after.execution_ms if after else None, "ratio": None}
    if before is None or after is None:
        row["verdict"] = "not measured"
    elif after.failed:
        row["verdict"] = "still failing" if before.failed else "broken"
    elif before.failed:
        row["verdict"] = "fixed"
    else:
        b, a = before.execution_ms, after.execution_ms
        ratio = _ratio(b, a)
        row["ratio"] = round(ratio, 2)
        if a > b * max_ratio and a - b > floor_ms:
            found = _judged(name, before, after, max_ratio, floor_ms, controls, dead or {}, rewritten)
            row |= {"evidence": list(found.fired), "judgement": found.message, "remedy": found.remedy}
            if found.remedy.startswith("VACUUM"):
                row["verdict"] = BLOATED
            else:
                row["verdict"] = ("regressed" if found.alarm else AS_CONTROLS if found.figures.get("unimportant")
                                  else SAME_WORK)
        elif a < b / max_ratio and b - a > floor_ms:
            row["verdict"] = "improved"
        else:
            row["verdict"] = "same"
    old = set(before.scans) if before and not before.failed else set()
    new = set(after.scans) if after and not after.failed else set()
    removed = [scan_text(s) for s in before.scans if s not in new] if old and new else []
    added = [scan_text(s) for s in after.scans if s not in old] if old and new else []
    row |= {"plan_before": before.plan_text() if before else "",
            "plan_after": after.plan_text() if after else "",
            "plan_changed": bool(before and after and (before.plan_text() != after.plan_text())),
            "scans": f"{', '.join(removed) or '—'} → {', '.join(added) or '—'}" if removed or added else "",
            "indexes_used_before": before.indexes if before else [],
            "indexes_used_after": after.indexes if after else [],
            "error": (after or before).error}
    return row


def _change(row: dict) -> str:
    if row["verdict"] == STILL_BROKEN:
        return f"still broken since {row['broken_since']}: {row['error']}"
    if row["verdict"] in ("broken", "still failing"):
        return f"fails: {row['error']}"
    return f"{row['ratio']:.2f}x ({row['after_ms'] - row['before_ms']:+.2f} ms)"


_UNTIMED = {"broken": "now fails", "still failing": "fails before and after", STILL_BROKEN: "still broken",
            "not measured": "measured on one side only"}


def _worst(rows: list[dict], max_ratio: float, floor_ms: float) -> dict | None:
    """The row the value and the hint are about: a query that broke, else the timed query
    nearest to (or furthest past) the threshold, which it crosses when both its ratio and its
    slowdown in ms do."""
    def closeness(row: dict) -> float:
        return min(row["ratio"] / max_ratio, (row["after_ms"] - row["before_ms"]) / floor_ms if floor_ms
                   else float("inf"))

    timed = sorted((r for r in rows if r["ratio"] is not None), key=closeness, reverse=True)
    for group in ([r for r in rows if r["verdict"] == "broken"], timed,
                  [r for r in rows if r["verdict"] in ("still failing", STILL_BROKEN, "not measured")]):
        if group:
            return group[0]
    return None


def controls_of(samples, tables) -> list[str]:
    """The measured queries whose plan touches none of `tables`: controls for the others."""
    touched = set(tables)
    return [name for name, s in _as_samples(samples).items()
            if not s.failed and s.scans and not {relation for _, relation, _ in s.scans if relation} & touched]


def compare(before, after, *, max_ratio: float, floor_ms: float, phase: str = "dry_run",
            subject: str = "", broken_since: Mapping[str, str] | None = None, controls: list[str] = (),
            dead: dict[str, float] | None = None, rewritten: set[str] = frozenset()) -> GateResult:
    """The gate: FAIL when a top query got slower by more than `max_ratio` AND by more than
    `floor_ms` milliseconds (median to median) while doing more work (another plan, more pages),
    or fails now and did not before; WARN when a query could not be compared (failing before and
    after, or measured on one side only) or got slower doing the same work.
    broken_since: {query: the earlier step after which it first broke}: such a query, failing
    still, is "still broken" since that step (a WARN here), not broken again by this one.
    Takes PlanSamples or their dicts, as `measure` gives them or as they come back from XCom."""
    before, after = _as_samples(before), _as_samples(after)
    paired = {n: (before.get(n), after.get(n)) for n in controls}
    rows = [_row(name, before.get(name), after.get(name), max_ratio, floor_ms, paired, dead, rewritten)
            for name in [*before, *(n for n in after if n not in before)]]
    for row in rows:
        if row["verdict"] == "broken" and row["name"] in (broken_since or {}):
            row |= {"verdict": STILL_BROKEN, "broken_since": broken_since[row["name"]]}
    regressed = [r for r in rows if r["verdict"] == "regressed"]
    bad = [r for r in rows if r["verdict"] == "broken"] + regressed
    odd = [r for r in rows if r["verdict"] in ("still failing", STILL_BROKEN, "not measured")]
    noisy = [r for r in rows if r["verdict"] in (SAME_WORK, BLOATED, AS_CONTROLS)]
    counts = (f"{len(regressed)} regressed, {sum(r['verdict'] == 'improved' for r in rows)} improved, "
              f"{sum(r['plan_changed'] for r in rows)} plans changed")
    if bad:
        verdict = Verdict.FAIL
        message = (f"{len(bad)} of {len(rows)} top queries got slower or now fail: "
                   + ", ".join(f"{r['name']} {_change(r)}" for r in bad) + f" ({counts})")
    elif odd:
        verdict = Verdict.WARN
        still = [f"{r['name']} {_change(r)}" for r in odd if r["verdict"] == STILL_BROKEN]
        uncompared = [r["name"] for r in odd if r["verdict"] != STILL_BROKEN]
        message = (f"no top query got slower, but {', '.join(uncompared)} could not be compared ({counts})"
                   if not still else
                   f"this step broke no top query; {'; '.join(still)}"
                   + (f"; {', '.join(uncompared)} could not be compared" if uncompared else "") + f" ({counts})")
    elif noisy:
        verdict = Verdict.WARN
        slower = ", ".join(f"{r['name']} {_change(r)}" for r in noisy)
        message = (f"no top query got slower than the machine explains, but {slower} ran slower "
                   + ("with the same plan over the same pages" if all(r["verdict"] == SAME_WORK for r in noisy)
                      else "(read each one's evidence)") + f" ({counts})")
    else:
        verdict, message = Verdict.PASS, f"no top query of {len(rows)} got slower ({counts})"
    worst = _worst(rows, max_ratio, floor_ms)
    if worst is None:
        value = "no queries measured"
    elif worst["ratio"] is None:
        value = f"{worst['name']} {_UNTIMED[worst['verdict']]}"
    else:
        value = f"slowest change {_change(worst)} on {worst['name']}"
    return GateResult(
        gate=GATE, title=TITLE, phase=phase, subject=subject, verdict=verdict, value=value,
        threshold=f"≤ {max_ratio:g}x or ≤ +{floor_ms:g} ms", message=message,
        hint=_hint((odd or noisy)[0] if verdict is Verdict.WARN else worst, verdict), details=rows)


def _hint(worst: dict | None, verdict: Verdict) -> str:
    """What to do, about the row that decided the verdict."""
    if verdict is Verdict.PASS or worst is None:
        return ""
    if worst["verdict"] == "broken":
        return (f"{worst['name']} worked before this step and fails after it ({worst['error']}): the "
                f"migration breaks a query the app runs; change the migration or ship the app change first")
    if worst["verdict"] == STILL_BROKEN:
        return (f"{worst['name']} is still broken since {worst['broken_since']} ({worst['error']}): this step "
                f"did not break it; fix that step")
    if worst["verdict"] == "still failing":
        return f"{worst['name']} failed before this step too ({worst['error']}): check the query and its parameters"
    if worst["verdict"] == "not measured":
        return f"{worst['name']} was measured only on one side: measure both with the same queries"
    if worst["verdict"] == BLOATED:
        return f"{worst['name']} reads more pages with the same plan: {worst['remedy']}"
    if worst["verdict"] == SAME_WORK:
        return (f"{worst['name']} has the same plan ({worst['plan_after']}) and reads the same pages: the extra "
                f"time is the staging machine, unless the step added a trigger or CHECK this query now runs; "
                f"re-run the dry run on a quiet staging to be sure")
    if worst["verdict"] == AS_CONTROLS:
        return (f"{worst['name']} ran {_change(worst)}, as the control queries did: {worst['judgement']}; the "
                f"staging machine was busy; re-run the dry run on a quiet staging to be sure")
    lost = sorted(set(worst["indexes_used_before"]) - set(worst["indexes_used_after"]))
    if worst.get("evidence") == [judge.TIME]:
        return f"{worst['name']} is {_change(worst)}: {worst['remedy']} ({worst['judgement']})"
    plan = (f"its plan went from {worst['plan_before']} to {worst['plan_after']}" if worst["plan_changed"]
            else f"its plan is unchanged ({worst['plan_after']})")
    fix = (f"it no longer uses {', '.join(lost)}: keep or recreate that index" if lost else
           "read its plan and the step's DDL: a changed table or fresh statistics may need an index or ANALYZE")
    return f"{worst['name']} is {_change(worst)}: {plan}; {fix}"
