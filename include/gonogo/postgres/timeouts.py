"""The timeouts that keep production safe, and the range each may take.

PostgreSQL reads 0 as "wait forever": a lock_timeout of 0 lets a step queue the app behind it
for as long as its lock takes (measured: the app's reads waited 6.54 s behind one ALTER,
0.05 s with the defaults). So every timeout gonogo sets, from the trigger form, a manifest or
the code, is refused outside its range, with the range in the message; and the session_guards
gate reads the session's real values against the same ranges, not against what was asked.

Values are PostgreSQL's: a number with a unit (ms, s, min, h, d), a bare number in ms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gonogo.errors import GonogoError

_UNITS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_VALUE = re.compile(r"^\s*(?P<number>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>us|ms|s|min|h|d)?\s*$")


@dataclass(frozen=True)
class Range:
    floor_ms: float
    ceiling_ms: float
    example: str
    why: str  # what the setting bounds, for the message

    def describe(self) -> str:
        return f"from {_show(self.floor_ms)} to {_show(self.ceiling_ms)}"


RANGES = {
    "lock_timeout": Range(10, 5 * 60_000, "2s", "the longest any statement of the run waits for a lock"),
    "lock_attempt_timeout": Range(10, 30_000, "200ms", "the app's worst wait behind one attempt of a step"),
    "patient_lock_timeout": Range(1000, 3_600_000, "10min", "a CONCURRENTLY or VALIDATE statement's lock wait"),
    "statement_timeout": Range(1000, 86_400_000, "5min", "the longest one statement of the run may take"),
    "idle_in_transaction_session_timeout": Range(1000, 86_400_000, "10min",
                                                 "how long a session may sit idle holding its locks"),
}


class TimeoutSettingError(GonogoError):
    """A timeout outside its range: the message names it, the value, why, and the range."""


def milliseconds(value: object) -> float | None:
    """The value in ms (PostgreSQL's units; a bare number is ms), None if it is not a duration."""
    match = _VALUE.match(str(value)) if value is not None else None
    if not match:
        return None
    return float(match["number"]) * _UNITS[match["unit"] or "ms"]


def problem(name: str, value: object) -> str | None:
    """What is wrong with `value` for the setting `name` (a key of RANGES), or None."""
    bounds = RANGES[name]
    text = "" if value is None else str(value).strip()
    if not text:
        why = "it is empty"
    elif (ms := milliseconds(text)) is None:
        why = "it is not a duration (a number with ms, s, min or h)"
    elif ms == 0:
        why = "0 means wait forever in PostgreSQL"
    elif ms < bounds.floor_ms:
        why = "it is below the floor"
    elif ms > bounds.ceiling_ms:
        why = "it is above the ceiling"
    else:
        return None
    return (f"{name} = {text!r} is not allowed: {why}. It bounds {bounds.why}; give a value "
            f"{bounds.describe()} (default {bounds.example})")


def check(name: str, value: object, where: str = "") -> str:
    """`value`, normalised (no spaces), or TimeoutSettingError saying where and what to do."""
    if (wrong := problem(name, value)) is not None:
        raise TimeoutSettingError(f"{where}: {wrong}" if where else wrong)
    return "".join(str(value).split())


def _show(ms: float) -> str:
    for unit in ("d", "h", "min", "s"):
        if ms >= _UNITS[unit] and ms % _UNITS[unit] == 0:
            return f"{int(ms // _UNITS[unit])}{unit}"
    return f"{ms:g}ms"
