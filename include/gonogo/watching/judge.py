"""Is a top query worse after the batch? One judgement for the watch window on production and
the staging latency gate, built to give the same verdict on a quiet and on a busy machine.

Three kinds of evidence, each named in the verdict when it fires:
- **plan**: the plan's shape (scans, indexes) changed and its estimated cost rose. A busy CPU
  does not change a plan.
- **work**: shared blocks (hit + read) per call rose, beyond the ratio and a floor of pages,
  not only because each call returns more rows, and the query is not faster than before (a new
  plan the batch meant, reading more pages in less time, is an improvement). A busy CPU does
  not change the pages a query reads either.
- **time**: time per call, compared over many intervals (or runs) with a one-sided
  Mann-Whitney U rank test against many baseline intervals (as Kayenta's canary judge does),
  after dividing each interval by how much the control queries — ones that touch none of the
  batch's tables — slowed in that interval. When every query slows alike, the machine is busy,
  not the migration; a slowdown the controls do not share, significant and beyond the ratio
  and the floor, is the batch's.

Plan and work fire only for a query that is also slower by the ratio and the floor now (its
latest intervals, normalised): they say the batch caused a slowdown, not that one matters.

Better numbers are never evidence. `diagnose` then says what fits: more pages on a table the
batch rewrote or backfilled that holds many dead tuples is VACUUM (ANALYZE) of that table, not
a rollback; a plan change names the step whose SQL names the index or table that changed.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from functools import lru_cache

ALPHA = 0.01            # a slowdown is significant below this one-sided p
WORK_RATIO = 1.3        # pages per call up by 30 % ...
WORK_FLOOR_PAGES = 8.0  # ... and by 8 pages (an index descent more is not a regression)
DEAD_SHARE = 10.0       # % of dead tuples that makes a rewritten table the likely cause
EXACT_UP_TO = 400       # n1 * n2 up to which the exact distribution of U is computed
LATEST = 3              # the latest intervals (runs) whose median says how slow a query is now

PLAN, WORK, TIME = "plan", "work", "time"


def mann_whitney_u(x: list[float], y: list[float]) -> tuple[float, float]:
    """U of x, and the one-sided p that x tends to be larger than y. Exact distribution without
    ties for small samples; otherwise the normal approximation with tie and continuity
    corrections (scipy.stats.mannwhitneyu's method="asymptotic")."""
    n1, n2 = len(x), len(y)
    if not n1 or not n2:
        raise ValueError("both samples need at least one value")
    ranked = sorted([(v, 0) for v in x] + [(v, 1) for v in y])
    ranks, ties, i = [0.0] * len(ranked), [], 0
    while i < len(ranked):
        j = i
        while j + 1 < len(ranked) and ranked[j + 1][0] == ranked[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        if j > i:
            ties.append(j - i + 1)
        i = j + 1
    r1 = sum(r for r, (_, side) in zip(ranks, ranked) if side == 0)
    u = r1 - n1 * (n1 + 1) / 2
    if not ties and n1 * n2 <= EXACT_UP_TO:
        counts = _u_counts(n1, n2)
        total = sum(counts)
        return u, sum(counts[int(round(u)):]) / total
    n = n1 + n2
    mean = n1 * n2 / 2
    var = n1 * n2 / 12 * ((n + 1) - sum(t ** 3 - t for t in ties) / (n * (n - 1)))
    if var <= 0:  # every value equal: no evidence either way
        return u, 1.0
    z = (u - mean - 0.5) / math.sqrt(var)
    return u, 0.5 * math.erfc(z / math.sqrt(2))


@lru_cache(maxsize=256)
def _u_counts(n1: int, n2: int) -> tuple[int, ...]:
    """How many of the C(n1+n2, n1) orderings give each U = 0 .. n1*n2 (no ties)."""
    if n1 == 0 or n2 == 0:
        return (1,)
    # the largest value is from x (adds n2 to U) or from y (adds nothing)
    with_x, with_y = _u_counts(n1 - 1, n2), _u_counts(n1, n2 - 1)
    out = [0] * (n1 * n2 + 1)
    for u, c in enumerate(with_x):
        out[u + n2] += c
    for u, c in enumerate(with_y):
        out[u] += c
    return tuple(out)


@dataclass(frozen=True)
class Evidence:
    """One side of one query: per interval (or per EXPLAIN ANALYZE run) time and pages per
    call, rows per call, and the plan (its text, its scans, its estimated cost)."""

    ms: tuple[float, ...] = ()
    pages: tuple[float, ...] = ()
    rows: tuple[float, ...] = ()
    plan: str = ""
    scans: tuple = ()
    cost: float | None = None


@dataclass(frozen=True)
class Judgement:
    name: str
    fired: tuple[str, ...]          # the evidence that fired: plan, work, time
    reasons: tuple[str, ...]        # one sentence per evidence, fired or not
    figures: dict = field(default_factory=dict)
    remedy: str = ""                # set by diagnose

    @property
    def alarm(self) -> bool:
        return bool(self.fired)

    @property
    def message(self) -> str:
        head = (f"{self.name}: " + " and ".join(f"{f} changed" for f in self.fired) if self.fired
                else f"{self.name}: no evidence of a regression")
        return head + " — " + "; ".join(self.reasons)


def control_factors(controls_base: list[list[float]], controls_now: list[list[float]]) -> list[float]:
    """For each interval of `controls_now`, how much slower the controls ran than their baseline
    median (the median over controls); 1.0 where no control has a value. Each control is a list
    of time per call, one per interval, the same intervals for all."""
    medians = [statistics.median(b) if b else None for b in controls_base]
    length = max((len(c) for c in controls_now), default=0)
    factors = []
    for i in range(length):
        ratios = [c[i] / m for c, m in zip(controls_now, medians)
                  if m and i < len(c) and c[i] is not None and c[i] > 0]
        factors.append(statistics.median(ratios) if ratios else 1.0)
    return factors


def judge(name: str, before: Evidence, after: Evidence, *, before_factors: list[float] | None = None,
          after_factors: list[float] | None = None, ratio: float = 1.5, floor_ms: float = 2.0,
          alpha: float = ALPHA, work_ratio: float = WORK_RATIO, work_floor: float = WORK_FLOOR_PAGES,
          baseline_note: str = "") -> Judgement:
    """The verdict for one query. *_factors: the controls' slowdown per interval of each side
    (control_factors); None when there are no controls (time is then compared as measured).
    baseline_note: where the baseline's intervals came from, said after their count."""
    fired, reasons, figures = [], [], {}
    faster = False  # time per call under the baseline's: more pages then are no regression

    def medians(values):
        clean = [v for v in values if v is not None]
        return statistics.median(clean) if clean else None

    # plan: another shape, at a higher estimated cost (a cheaper new plan is an improvement)
    if before.plan and after.plan and before.plan != after.plan:
        costlier = before.cost is None or after.cost is None or after.cost > before.cost * ratio
        figures |= {"plan_before": before.plan, "plan_after": after.plan, "cost_before": before.cost,
                    "cost_after": after.cost}
        cost = (f", estimated cost {before.cost:.4g} → {after.cost:.4g}"
                if before.cost is not None and after.cost is not None else "")
        if costlier:
            fired.append(PLAN)
            reasons.append(f"plan {before.plan} → {after.plan}{cost}")
        else:
            reasons.append(f"plan changed to a cheaper one ({after.plan}{cost})")
    # time: normalised by the controls, a rank test over the intervals
    if before.ms and after.ms:
        b_norm = _normalised(before.ms, before_factors)
        a_norm = _normalised(after.ms, after_factors)
        b_med, a_med = statistics.median(b_norm), statistics.median(a_norm)
        _, p = mann_whitney_u(a_norm, b_norm)
        slowed = statistics.median(after_factors) if after_factors else None
        figures |= {"ms_before": round(b_med, 3), "ms_after": round(a_med, 3), "p": round(p, 4),
                    "controls_factor": round(slowed, 2) if slowed else None,
                    "intervals": (len(a_norm), len(b_norm))}
        ctrl = f", controls ×{slowed:.2f}" if slowed else ", no control queries"
        text = (f"time per call {b_med:.3g} → {a_med:.3g} ms{' normalised' if slowed else ''}{ctrl}, "
                f"Mann-Whitney p = {p:.3g} over {len(a_norm)} intervals against {len(b_norm)}"
                + (f" ({baseline_note})" if baseline_note else ""))
        faster = a_med < b_med
        if p < alpha and a_med > b_med * ratio and a_med - b_med > floor_ms:
            fired.append(TIME)
            reasons.append(text)
        else:
            reasons.append(text + " (not a significant slowdown of the query alone)")
    # work: pages per call up, not because each call returns more rows
    b_pages, a_pages = medians(before.pages), medians(after.pages)
    if b_pages is not None and a_pages is not None:
        b_rows, a_rows = medians(before.rows), medians(after.rows)
        rows_up = b_rows and a_rows and a_rows / b_rows
        per_row = a_pages / b_pages / rows_up if rows_up and b_pages else None
        figures |= {"pages_before": round(b_pages, 1), "pages_after": round(a_pages, 1)}
        up = a_pages > b_pages * work_ratio and a_pages - b_pages > work_floor and (per_row is None or per_row > work_ratio)
        if up and len(before.pages) >= 3 and len(after.pages) >= 3:
            up = mann_whitney_u(list(after.pages), list(before.pages))[1] < alpha
        text = f"pages per call {b_pages:.4g} → {a_pages:.4g}"
        if b_rows is not None and a_rows is not None:
            text += f" (rows per call {b_rows:.4g} → {a_rows:.4g})"
        if up and faster:
            reasons.append(text + " but not slower: not a regression (a new plan reading more, or dead tuples "
                                  "that VACUUM (ANALYZE) would clear)")
        elif up:
            fired.append(WORK)
            reasons.append(text)
        else:
            reasons.append(text.replace("pages per call", "same work: pages per call", 1))
    # Plan and work say who slowed a query, not that it matters: an alarm also needs the query
    # slower than its baseline by the ratio and the floor (its latest runs, after the controls'
    # slowdown) — a tiny table read whole in 0.1 ms instead of by index in 0.05 ms is not a
    # regression anyone rolls back for. Without timings (a control), plan and work decide alone.
    if fired and TIME not in fired and before.ms and after.ms:
        b_med = statistics.median(_normalised(before.ms, before_factors))
        latest = statistics.median(_normalised(after.ms, after_factors)[-LATEST:])
        if not (latest > b_med * ratio and latest - b_med > floor_ms):
            reasons.append(f"{' and '.join(fired)} changed, but time per call {b_med:.3g} → {latest:.3g} ms "
                           f"is within ×{ratio:g} or + {floor_ms:g} ms: not a regression that matters")
            figures["unimportant"] = list(fired)
            fired = []
    return Judgement(name, tuple(fired), tuple(reasons), figures)


def _normalised(ms: tuple[float, ...], factors: list[float] | None) -> list[float]:
    if not factors:
        return list(ms)
    return [m / (factors[i] if i < len(factors) and factors[i] > 0 else 1.0) for i, m in enumerate(ms)]


def diagnose(judgement: Judgement, after: Evidence, *, dead: dict[str, float], rewritten: set[str],
             steps_naming: dict[str, list[str]], lost: list[str] = ()) -> Judgement:
    """The remedy that fits the evidence. dead: {table: dead-tuple %} now; rewritten: tables the
    batch rewrote or backfilled; steps_naming: {index or table: steps whose SQL names it};
    lost: indexes the plan used before and does not now."""
    fired = judgement.fired or tuple(judgement.figures.get("unimportant", ()))
    if not fired:
        return judgement
    tables = [s[1] for s in after.scans if s[1]]
    bloated = [t for t in dict.fromkeys(tables) if t in rewritten and dead.get(t, 0.0) >= DEAD_SHARE]
    # vacuumed already (the backfill's own VACUUM, autovacuum): the table keeps the pages its old
    # row versions took, free space later writes reuse, and a sequential scan still reads them
    grown = [t for t in dict.fromkeys(tables) if t in rewritten and t not in bloated]
    if WORK in fired and PLAN not in fired and bloated:
        remedy = ("; ".join(f'VACUUM (ANALYZE) "{t}" ({dead[t]:.0f} % dead tuples left by the batch\'s rewrite)'
                            for t in bloated)
                  + ": the query reads the dead row versions too; a rollback would not remove them")
    elif WORK in fired and PLAN not in fired and grown:
        remedy = ("VACUUM (ANALYZE) has left " + ", ".join(f'"{t}"' for t in grown) + " with the pages the batch's "
                  "rewrite freed: the query reads them too, later writes reuse them, a rollback would not return "
                  "them; pg_repack (or VACUUM FULL in a quiet window) shrinks the table if the extra reads matter")
    elif PLAN in fired or lost:
        changed = list(lost) + [t for t in tables if t not in lost]
        steps = list(dict.fromkeys(s for name in changed for s in steps_naming.get(name, ())))
        where = (f"step {', '.join(steps)} changed the plan" if steps
                 else "no step of the batch names what changed: look for DDL outside the batch or fresh statistics")
        fix = f"it no longer uses {', '.join(lost)}: recreate that index or roll back" if lost else \
            "read the new plan; ANALYZE or an index may fix it forward, or roll back"
        remedy = f"{where}; {fix}"
    elif WORK in fired:
        remedy = "it reads more pages with the same plan: check the table's size and dead tuples, then roll back or fix forward"
    else:
        remedy = ("slower than the control queries with the same plan and work: a trigger, CHECK or function "
                  "the batch added on this query's path is the likely cause; roll back or fix forward")
    return Judgement(judgement.name, judgement.fired, judgement.reasons, judgement.figures, remedy)
