"""The watch window's analysis, in the manner of Argo Rollouts' analysis runs.

A metric is a SQL query against production returning a number (a gauge), a cumulative counter
(a delta since the rollout) or two cumulative counters whose deltas over each interval give a
ratio (mean time per call, rollbacks per transaction). Each has a condition relative to the
baseline read before the rollout, a failure limit (breaches tolerated before it fails) and a
severity: a failing `fail` metric raises the alarm, a `warn` one is reported.

A metric that errors or returns nothing is never a success: after `error_limit` consecutive
errors the window is inconclusive and a human decides, and so is one that only ever errored. A
ratio with nothing to divide by in an interval (a query nobody called) is "no data": not an
error, and never a PASS — a metric with no data in the whole window ends as a WARN. The watch's
own EXPLAIN of a top query is not a call of it.

A top query is a `query` metric, judged by gonogo.watching.judge rather than by a threshold: its plan
and its pages per call (which a busy machine does not move) and its time per call over the last
intervals against the baseline's intervals, normalised by the `control` metrics (a probe that
touches no table, and top queries that touch none of the batch's tables). The baseline is a
series of readings taken before the batch, so that it is a distribution of intervals; where
gonogo sampled production the day before (gonogo.samples), the intervals of the same hours
yesterday are part of it, and a query's recent intervals are judged against the baseline
intervals nearest to them in the time of day: at tonight's peak, yesterday's peak.
A value on the better side of its baseline is never a breach.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import NamedTuple
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gonogo.watching import judge as judging
from gonogo.results import GateResult, Verdict

if TYPE_CHECKING:  # the batch loader (lint, plan) reads Metric without a database driver
    import psycopg

Reading = tuple[float, ...]
RUNNING, ALARM, INCONCLUSIVE, PASSED = "running", "alarm", "inconclusive", "passed"
QUERY, CONTROL = "query", "control"
RECENT_INTERVALS = 6  # a query's last intervals, judged against the baseline's
PROBE_RUNS = 5        # the control probe's runs per reading; their median is its time
NEAREST = 8           # baseline intervals a query's recent ones are judged against, nearest in the time of day
DAY = 86400.0


@dataclass(frozen=True)
class Metric:
    name: str
    title: str
    query: str
    params: dict = field(default_factory=dict)
    kind: str = "gauge"              # gauge | delta | ratio | query | control
    unit: str = ""
    max: float | None = None         # breach: value > max
    min: float | None = None         # breach: value < min
    max_ratio: float | None = None   # breach: value > baseline * max_ratio and value - baseline > floor
    floor: float = 0.0
    max_increase: float | None = None  # breach: value - baseline > max_increase
    failure_limit: int = 0           # breaches tolerated; one more fails the metric
    severity: str = "fail"           # fail: raises the alarm | warn: reported
    after_fraction: float = 0.0      # judged only once this share of the window has passed

    def threshold(self) -> str:
        if self.kind == QUERY:
            return (f"plan and pages per call as before (≤ ×{judging.WORK_RATIO:g} or + {judging.WORK_FLOOR_PAGES:g}); "
                    + ("a control, not timed" if self.params.get("control") else
                       f"time per call not significantly slower than the baseline's intervals (Mann-Whitney "
                       f"p < {judging.ALPHA:g}) by more than ×{self.max_ratio or 1.5:g} and + {self.floor:g} ms "
                       f"after the controls' slowdown")
                    + (f", {self.failure_limit} breaches tolerated" if self.failure_limit else ""))
        if self.kind == CONTROL:
            return "none: it measures the machine"
        parts = []
        if self.max is not None:
            parts.append(f"≤ {self.max:g}{self.unit}")
        if self.min is not None:
            parts.append(f"≥ {self.min:g}{self.unit}")
        if self.max_ratio is not None:
            parts.append(f"≤ baseline × {self.max_ratio:g} (or + {self.floor:g}{self.unit})")
        if self.max_increase is not None:
            parts.append(f"≤ baseline + {self.max_increase:g}{self.unit}")
        limit = f", {self.failure_limit} breaches tolerated" if self.failure_limit else ""
        when = f", judged after {self.after_fraction:.0%} of the window" if self.after_fraction else ""
        return " and ".join(parts) + limit + when

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Metric:
        return cls(**data)


def read(conn: psycopg.Connection, metrics: list[Metric]) -> dict[str, Reading | str]:
    """One reading per metric, or the error text (a failed or empty query)."""
    import psycopg

    readings: dict[str, Reading | str] = {}
    for metric in metrics:
        try:
            if metric.kind in (QUERY, CONTROL):
                readings[metric.name] = _read_query(conn, metric) if metric.kind == QUERY else _read_probe(conn, metric)
                continue
            row = conn.execute(metric.query, metric.params or None, prepare=False).fetchone()
        except psycopg.Error as exc:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.rollback()
            readings[metric.name] = (exc.diag.message_primary or str(exc)).strip()
            continue
        if row is None or any(v is None for v in row):
            readings[metric.name] = "the query returned nothing"
        else:
            readings[metric.name] = tuple(float(v) for v in row)
    return readings


def _read_query(conn, metric: Metric) -> tuple:
    """(total ms, calls, pages, rows, plan cost, plan text, scans) of a top query: its counters in
    pg_stat_statements and its plan now (EXPLAIN without ANALYZE: it does not run the query)."""
    from gonogo.postgres.plans import PlanSample, plan_scans

    row = conn.execute(metric.query, {"queryid": metric.params["queryid"]}, prepare=False).fetchone()
    plan = conn.execute("EXPLAIN (FORMAT JSON) " + metric.params["sql"], metric.params.get("args") or None,
                        prepare=False).fetchone()[0][0]["Plan"]
    scans = plan_scans(plan)
    text = PlanSample("", top_node=plan["Node Type"], scans=scans).plan_text()
    return (*(float(v) for v in row), float(plan["Total Cost"]), text, [list(x) for x in scans])


def _read_probe(conn, metric: Metric) -> tuple:
    """(ms,): the median time of the control probe, run a few times from this session."""
    times = []
    for _ in range(PROBE_RUNS):
        started = time.perf_counter()
        conn.execute(metric.query, prepare=False).fetchone()
        times.append((time.perf_counter() - started) * 1000)
    return (statistics.median(times),)


@dataclass
class _State:
    samples: list = field(default_factory=list)   # (elapsed seconds, value | None, note)
    breaches: int = 0
    consecutive_errors: int = 0
    errors: int = 0
    measured: int = 0
    previous: Reading | None = None
    last_error: str = ""
    intervals: list = field(default_factory=list)  # query: _Interval of each poll
    judgement: judging.Judgement | None = None
    vacuum: str = ""  # a query read more pages of a rewritten table: the VACUUM (ANALYZE) advice


class _Interval(NamedTuple):
    """One interval of a query: time, pages and rows per call, how much slower than at the
    baseline the controls ran in it, when it was (epoch seconds, its middle) and whether it
    is one of the same hours yesterday."""

    ms: float
    pages: float
    rows: float
    factor: float
    when: float
    yesterday: bool = False


class Analysis:
    def __init__(self, metrics: list[Metric], baseline: dict[str, Reading | str], *, window_seconds: float,
                 error_limit: int = 3, series: list[dict] | None = None, times: list[float] | None = None,
                 yesterday: list[list[dict]] | None = None, started_at: float | None = None):
        """series: the readings taken before the batch, oldest first (the last one is `baseline`),
        at `times` (epoch seconds); yesterday: runs of consecutive samples of the same hours the
        day before ({"at": epoch seconds, "readings": {...}}, gonogo.samples); started_at: when
        the window started (epoch seconds; elapsed counts from it)."""
        self.metrics = metrics
        self.baseline = baseline
        self.window_seconds = window_seconds
        self.error_limit = error_limit
        self.started_at = time.time() if started_at is None else started_at
        self.states = {m.name: _State(previous=_reading(baseline.get(m.name))) for m in metrics}
        self.elapsed = 0.0
        self.finished = False
        series = series or [baseline]
        times = times if times and len(times) == len(series) else [self.started_at] * len(series)
        self.controls = [m for m in metrics if m.kind == CONTROL or (m.kind == QUERY and m.params.get("control"))]
        self._control_base: dict[str, list[float]] = {m.name: [] for m in self.controls}
        # (before, after, middle, of yesterday) of each baseline interval: just before the batch, then yesterday's
        timed = list(zip(series, times))
        pairs = [(b, a, (tb + ta) / 2, False) for (b, tb), (a, ta) in zip(timed, timed[1:])]
        pairs += [(b["readings"], a["readings"], (b["at"] + a["at"]) / 2, True)
                  for run in yesterday or () for b, a in zip(run, run[1:])]
        self.sources = {"before": sum(not y for *_, y in pairs), "yesterday": sum(y for *_, y in pairs)}
        for before, after, _, _ in pairs:
            for name, value in self._control_values(before, after).items():
                self._control_base[name].append(value)
        # each baseline interval with calls, of each query
        self._base_intervals: dict[str, list[_Interval]] = {m.name: [] for m in metrics if m.kind == QUERY}
        for before, after, when, of_yesterday in pairs:
            factor = self._factor(self._control_values(before, after))
            for name, intervals in self._base_intervals.items():
                if interval := _interval(before.get(name), after.get(name)):
                    intervals.append(_Interval(*interval, factor, when, of_yesterday))

    @classmethod
    def from_baseline(cls, metrics: list[Metric], baseline: dict, *, window_seconds: float, error_limit: int,
                      started_at: float | None = None) -> Analysis:
        """The analysis of a window against a baseline of gonogo.watching.watch.capture_baseline."""
        return cls(metrics, baseline["readings"], window_seconds=window_seconds, error_limit=error_limit,
                   series=baseline.get("series"), times=baseline.get("times"), yesterday=baseline.get("yesterday"),
                   started_at=started_at)

    def nearest(self, name: str, recent: list[_Interval]) -> list[_Interval]:
        """The baseline intervals a query's recent ones are judged against: all of them without
        samples of yesterday; with them, the NEAREST (or as many as were read just before the
        batch) in the time of day — at tonight's peak, yesterday's peak."""
        base = self._base_intervals.get(name, [])
        if not recent or not any(i.yesterday for i in base):
            return base
        now = statistics.median(i.when for i in recent)
        size = max(NEAREST, sum(not i.yesterday for i in base))
        return sorted(base, key=lambda i: _day_distance(i.when, now))[:size]

    def describe_sources(self) -> str:
        """"8 intervals just before the batch, 24 from the same hours yesterday"."""
        before, yesterday = self.sources["before"], self.sources["yesterday"]
        text = f"{before} interval{'' if before == 1 else 's'} just before the batch"
        return text + (f", {yesterday} from the same hours yesterday" if yesterday else "")

    def _control_values(self, before: dict, after: dict) -> dict[str, float]:
        """Each control's time in the interval between two readings: the probe's time, a control
        query's time per call."""
        values = {}
        for metric in self.controls:
            if metric.kind == CONTROL:
                reading = _reading(after.get(metric.name))
                if reading:
                    values[metric.name] = reading[0]
            elif interval := _interval(before.get(metric.name), after.get(metric.name)):
                values[metric.name] = interval[0]
        return values

    def _factor(self, values: dict[str, float]) -> float:
        """How much slower than at the baseline the controls ran (their median ratio), 1.0 unknown."""
        ratios = [v / statistics.median(self._control_base[n]) for n, v in values.items()
                  if self._control_base.get(n) and statistics.median(self._control_base[n]) > 0]
        return statistics.median(ratios) if ratios else 1.0

    def baseline_value(self, metric: Metric) -> float | None:
        if metric.kind == QUERY:  # the intervals just before the batch (all, where there are none)
            base = self._base_intervals.get(metric.name, [])
            base = [i for i in base if not i.yesterday] or base
            return statistics.median(i.ms for i in base) if base else None
        reading = _reading(self.baseline.get(metric.name))
        if reading is None:
            return None
        if metric.kind == CONTROL:
            values = self._control_base.get(metric.name)
            return statistics.median(values) if values else reading[0]
        if metric.kind == "delta":
            return 0.0
        if metric.kind == "ratio":
            return reading[0] / reading[1] if reading[1] else None
        return reading[0]

    def observe(self, readings: dict[str, Reading | str], elapsed: float) -> str:
        """Take one poll's readings at `elapsed` seconds into the window; returns the status."""
        self.elapsed = elapsed
        previous = {m.name: self.states[m.name].previous for m in self.controls}
        factor = self._factor(self._control_values(previous, {n: r for n, r in readings.items() if not isinstance(r, str)}))
        for metric in self.metrics:
            state, reading = self.states[metric.name], readings.get(metric.name, "not read")
            if isinstance(reading, str):
                state.errors += 1
                state.consecutive_errors += 1
                state.last_error = reading
                state.samples.append((round(elapsed, 1), None, f"error: {reading}"))
                continue
            state.consecutive_errors = 0
            if metric.kind == QUERY:
                self._observe_query(metric, state, reading, elapsed, factor)
                continue
            value = self._value(metric, reading, state)
            state.previous = reading
            if value is None:
                state.samples.append((round(elapsed, 1), None, "no data in this interval"))
                continue
            state.measured += 1
            judged = elapsed >= metric.after_fraction * self.window_seconds
            breach = judged and self._breached(metric, value)
            state.breaches += breach
            state.samples.append((round(elapsed, 1), round(value, 4), "breach" if breach else ""))
        return self.status

    def _observe_query(self, metric: Metric, state: _State, reading: tuple, elapsed: float, factor: float) -> None:
        """One interval of a top query, and gonogo.watching.judge's verdict over its recent intervals."""
        interval = _interval(state.previous, reading)
        state.previous = reading
        if interval is None:
            state.samples.append((round(elapsed, 1), None, "no data in this interval"))
            return
        state.measured += 1
        state.intervals.append(_Interval(*interval, factor, self.started_at + elapsed))
        recent = state.intervals[-RECENT_INTERVALS:]
        base = self.nearest(metric.name, recent)
        old = _reading(self.baseline.get(metric.name)) or ()
        control = bool(metric.params.get("control"))
        before = judging.Evidence(ms=() if control else tuple(i.ms for i in base), pages=tuple(i.pages for i in base),
                                  rows=tuple(i.rows for i in base), plan=old[5] if len(old) > 6 else "",
                                  scans=tuple(tuple(x) for x in old[6]) if len(old) > 6 else (),
                                  cost=old[4] if len(old) > 6 else None)
        after = judging.Evidence(ms=() if control else tuple(i.ms for i in recent),
                                 pages=tuple(i.pages for i in recent),
                                 rows=tuple(i.rows for i in recent), plan=reading[5], cost=reading[4],
                                 scans=tuple(tuple(x) for x in reading[6]))
        of_yesterday = sum(i.yesterday for i in base)
        verdict = judging.judge(metric.name.removeprefix("query_ms:"), before, after,
                                before_factors=[i.factor for i in base], after_factors=[i.factor for i in recent],
                                ratio=metric.max_ratio or 1.5, floor_ms=metric.floor,
                                baseline_note=f"{of_yesterday} of the same hours yesterday" if of_yesterday else "")
        if verdict.alarm or verdict.figures.get("unimportant"):
            lost = sorted({s[2] for s in before.scans if s[2]} - {s[2] for s in after.scans if s[2]})
            dead = {name.removeprefix("dead_tuples:"): self.states[name].samples[-1][1]
                    for name in self.states if name.startswith("dead_tuples:") and self.states[name].samples
                    and self.states[name].samples[-1][1] is not None}
            verdict = judging.diagnose(verdict, after, dead=dead, rewritten=set(metric.params.get("rewritten", ())),
                                       steps_naming=metric.params.get("steps_naming", {}), lost=lost)
        judged = elapsed >= metric.after_fraction * self.window_seconds
        # more pages on a table the batch rewrote, no slower yet: VACUUM (ANALYZE) is the remedy,
        # not a rollback, so it is reported (a WARN), not an alarm that asks for one
        vacuum = verdict.remedy.startswith("VACUUM") and judging.TIME not in verdict.fired
        breach = judged and verdict.alarm and not vacuum
        state.breaches += breach
        if judged and vacuum:
            state.vacuum = verdict.remedy
        state.judgement = verdict
        state.samples.append((round(elapsed, 1), round(interval[0], 4),
                              f"breach: {', '.join(verdict.fired)}" if breach else ""))

    def finish(self) -> str:
        self.finished = True
        return self.status

    def _value(self, metric: Metric, reading: Reading, state: _State) -> float | None:
        if metric.kind in ("gauge", CONTROL):
            return reading[0]
        base = _reading(self.baseline.get(metric.name))
        if metric.kind == "delta":
            return reading[0] - (base[0] if base else reading[0])
        previous = state.previous or reading
        numerator, denominator = reading[0] - previous[0], reading[1] - previous[1]
        return numerator / denominator if denominator > 0 else None

    def _breached(self, metric: Metric, value: float) -> bool:
        base = self.baseline_value(metric)
        if base is not None and metric.kind != "delta" and not worse(metric, value, base):
            return False  # better than (or equal to) its baseline: never a breach
        if metric.max is not None and value > metric.max:
            return True
        if metric.min is not None and value < metric.min:
            return True
        if metric.max_ratio is not None and base is not None:
            if value > base * metric.max_ratio and value - base > metric.floor:
                return True
        if metric.max_increase is not None and base is not None and value - base > metric.max_increase:
            return True
        return False

    def _failed(self, metric: Metric) -> bool:
        return self.states[metric.name].breaches > metric.failure_limit

    def _inconclusive(self, metric: Metric) -> bool:
        state = self.states[metric.name]
        return state.consecutive_errors >= self.error_limit or (
            self.finished and state.measured == 0 and state.errors > 0)

    @property
    def status(self) -> str:
        if any(self._failed(m) for m in self.metrics if m.severity == "fail"):
            return ALARM
        if any(self._inconclusive(m) for m in self.metrics):
            return INCONCLUSIVE
        return PASSED if self.finished else RUNNING

    def results(self) -> list[GateResult]:
        """One result per metric: its verdict, last value against baseline and threshold, samples."""
        out = []
        for metric in self.metrics:
            state, base = self.states[metric.name], self.baseline_value(metric)
            values = [v for _, v, _ in state.samples if v is not None]
            last = values[-1] if values else None
            if self._inconclusive(metric):
                verdict, message = Verdict.FAIL, (
                    f"inconclusive: {state.consecutive_errors or state.errors} errors in a row "
                    f"({state.last_error})" if state.errors else "inconclusive: never measured in the window")
            elif self.finished and state.measured == 0:
                verdict, message = Verdict.WARN, "no data in the whole window (nothing to measure: no traffic?)"
            elif self._failed(metric):
                verdict = Verdict.FAIL if metric.severity == "fail" else Verdict.WARN
                message = f"breached in {breach_count(state.breaches, state.measured)} (alarm at {metric.failure_limit + 1})"
            elif state.breaches:
                verdict, message = Verdict.PASS, (f"breached in {breach_count(state.breaches, state.measured)}, within "
                                                  f"the limit of {metric.failure_limit}")
            else:
                verdict, message = Verdict.PASS, f"within its threshold in all {state.measured} measurements"
            hint = "" if verdict is Verdict.PASS else (
                "look at the metric's query against production; roll back or fix forward" if verdict is Verdict.FAIL
                else "worth a look, not an alarm")
            if metric.kind == QUERY and state.judgement is not None:
                message = f"{message}; {state.judgement.message}"
                hint = state.judgement.remedy or hint if verdict is not Verdict.PASS else ""
            if metric.kind == QUERY and state.vacuum and verdict is Verdict.PASS:
                verdict, hint = Verdict.WARN, f"not an alarm: {state.vacuum}"
            if metric.kind == CONTROL:
                message = (f"control, touches no table: the machine ran ×{self._factor({metric.name: last}):.2f} its "
                           f"baseline in the last interval" if last is not None else "control: never measured")
            out.append(GateResult(
                gate="watch_metric", title=metric.title, phase="watch", subject=metric.name, verdict=verdict,
                value=(f"{_fmt(last, metric.unit)} (baseline {_fmt(base, metric.unit)})" if last is not None
                       else f"no value (baseline {_fmt(base, metric.unit)})"),
                threshold=metric.threshold(), message=message, hint=hint,
                details=[{"elapsed_s": t, "value": v, "baseline": base, "note": n} for t, v, n in state.samples[-50:]]))
        return out


def _interval(before, after) -> tuple[float, float, float] | None:
    """(ms, pages, rows per call) of a query between two readings; None without calls, and
    None for calls that took no time at all: they ran nothing (an EXPLAIN without ANALYZE is
    a call of the query it plans where pg_stat_statements counts it, e.g. on PostgreSQL 15 with
    track_utility off) and the watch's own EXPLAIN, each poll, is not the app's traffic."""
    before, after = _reading(before), _reading(after)
    if not before or not after or len(before) < 4 or len(after) < 4:
        return None
    calls = after[1] - before[1]
    if calls <= 0 or after[0] <= before[0]:
        return None
    return ((after[0] - before[0]) / calls, (after[2] - before[2]) / calls, (after[3] - before[3]) / calls)


def _day_distance(a: float, b: float) -> float:
    """Seconds between two moments' times of day (22:00 and 01:00 are 3 hours apart)."""
    apart = abs(a - b) % DAY
    return min(apart, DAY - apart)


def worse(metric: Metric, value: float, base: float) -> bool:
    """On the side of the baseline the metric's condition fails on."""
    if metric.max is not None or metric.max_ratio is not None or metric.max_increase is not None:
        return value > base
    return metric.min is not None and value < base


def breach_count(breaches: int, measured: int) -> str:
    """"2 of 10 intervals": the intervals that breached, of those measured."""
    return f"{breaches} of {measured} interval{'' if measured == 1 else 's'}"


def _reading(value) -> Reading | None:
    return tuple(value) if isinstance(value, (list, tuple)) else None


def _fmt(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:.4g}{unit}"
