"""The watch window's analysis, in the manner of Argo Rollouts' analysis runs.

A metric is a SQL query against production returning a number (a gauge), a cumulative counter
(a delta since the rollout) or two cumulative counters whose deltas over each interval give a
ratio (mean time per call, rollbacks per transaction). Each has a condition relative to the
baseline read before the rollout, a failure limit (breaches tolerated before it fails) and a
severity: a failing `fail` metric raises the alarm, a `warn` one is reported.

A metric that errors or returns nothing is never a success: after `error_limit` consecutive
errors the window is inconclusive and a human decides, and so is one that only ever errored. A
ratio with nothing to divide by in an interval (a query nobody called) is "no data": not an
error, and never a PASS — a metric with no data in the whole window ends as a WARN.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gonogo.results import GateResult, Verdict

if TYPE_CHECKING:  # the batch loader (lint, plan) reads Metric without a database driver
    import psycopg

Reading = tuple[float, ...]
RUNNING, ALARM, INCONCLUSIVE, PASSED = "running", "alarm", "inconclusive", "passed"


@dataclass(frozen=True)
class Metric:
    name: str
    title: str
    query: str
    params: dict = field(default_factory=dict)
    kind: str = "gauge"              # gauge | delta | ratio
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


@dataclass
class _State:
    samples: list = field(default_factory=list)   # (elapsed seconds, value | None, note)
    breaches: int = 0
    consecutive_errors: int = 0
    errors: int = 0
    measured: int = 0
    previous: Reading | None = None
    last_error: str = ""


class Analysis:
    def __init__(self, metrics: list[Metric], baseline: dict[str, Reading | str], *, window_seconds: float,
                 error_limit: int = 3):
        self.metrics = metrics
        self.baseline = baseline
        self.window_seconds = window_seconds
        self.error_limit = error_limit
        self.states = {m.name: _State(previous=_reading(baseline.get(m.name))) for m in metrics}
        self.elapsed = 0.0
        self.finished = False

    def baseline_value(self, metric: Metric) -> float | None:
        reading = _reading(self.baseline.get(metric.name))
        if reading is None:
            return None
        if metric.kind == "delta":
            return 0.0
        if metric.kind == "ratio":
            return reading[0] / reading[1] if reading[1] else None
        return reading[0]

    def observe(self, readings: dict[str, Reading | str], elapsed: float) -> str:
        """Take one poll's readings at `elapsed` seconds into the window; returns the status."""
        self.elapsed = elapsed
        for metric in self.metrics:
            state, reading = self.states[metric.name], readings.get(metric.name, "not read")
            if isinstance(reading, str):
                state.errors += 1
                state.consecutive_errors += 1
                state.last_error = reading
                state.samples.append((round(elapsed, 1), None, f"error: {reading}"))
                continue
            state.consecutive_errors = 0
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

    def finish(self) -> str:
        self.finished = True
        return self.status

    def _value(self, metric: Metric, reading: Reading, state: _State) -> float | None:
        if metric.kind == "gauge":
            return reading[0]
        base = _reading(self.baseline.get(metric.name))
        if metric.kind == "delta":
            return reading[0] - (base[0] if base else reading[0])
        previous = state.previous or reading
        numerator, denominator = reading[0] - previous[0], reading[1] - previous[1]
        return numerator / denominator if denominator > 0 else None

    def _breached(self, metric: Metric, value: float) -> bool:
        base = self.baseline_value(metric)
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
                message = f"breached {state.breaches} times (limit {metric.failure_limit})"
            elif state.breaches:
                verdict, message = Verdict.PASS, f"breached {state.breaches} times, within the limit of {metric.failure_limit}"
            else:
                verdict, message = Verdict.PASS, f"within its threshold in all {state.measured} measurements"
            out.append(GateResult(
                gate="watch_metric", title=metric.title, phase="watch", subject=metric.name, verdict=verdict,
                value=(f"{_fmt(last, metric.unit)} (baseline {_fmt(base, metric.unit)})" if last is not None
                       else f"no value (baseline {_fmt(base, metric.unit)})"),
                threshold=metric.threshold(), message=message,
                hint="" if verdict is Verdict.PASS else (
                    "look at the metric's query against production; roll back or fix forward" if verdict is Verdict.FAIL
                    else "worth a look, not an alarm"),
                details=[{"elapsed_s": t, "value": v, "baseline": base, "note": n} for t, v, n in state.samples[-50:]]))
        return out


def _reading(value) -> Reading | None:
    return tuple(value) if isinstance(value, (list, tuple)) else None


def _fmt(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:.4g}{unit}"
