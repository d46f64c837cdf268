"""The low-traffic window production changes are made in (the seed's Phase 1, "Schedule
low-traffic window"): a daily start and end in a time zone, e.g. 02:00-04:00 Europe/Berlin;
one that crosses midnight (23:30-01:00) ends the next day.

After the approval the production phase waits for the window's next start (without holding a
worker: gonogo_airflow defers), and no migration starts outside it: a window that ended
meanwhile (a long backup, a late approval) stops the run before any change, "window missed".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gonogo.errors import BatchError, GonogoError

_CLOCK = re.compile(r"^(?P<h>[01]?[0-9]|2[0-3]):(?P<m>[0-5][0-9])(?::(?P<s>[0-5][0-9]))?$")


class WindowMissed(GonogoError):
    """The window ended before the production changes could start: nothing was changed."""


@dataclass(frozen=True)
class Window:
    start: time
    end: time
    zone: str = "UTC"

    @classmethod
    def parse(cls, start: str, end: str, zone: str = "UTC", where: str = "window") -> Window:
        """From "HH:MM[:SS]" clock times and an IANA time zone; BatchError saying what is wrong."""
        def clock(text: str, name: str) -> time:
            match = _CLOCK.match(str(text or "").strip())
            if not match:
                raise BatchError(f"{where}: {name} {text!r} is not a time of day: write it as HH:MM, e.g. 02:00")
            return time(int(match["h"]), int(match["m"]), int(match["s"] or 0))
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise BatchError(f"{where}: time zone {zone!r} is unknown: give an IANA name such as Europe/Berlin "
                             f"or UTC") from None
        window = cls(clock(start, "start"), clock(end, "end"), zone)
        if window.start == window.end:
            raise BatchError(f"{where}: start and end are both {start}: a window needs a length")
        return window

    def describe(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.zone}"

    def around(self, now: datetime) -> tuple[datetime, datetime]:
        """The occurrence that contains `now`, else the next one: (start, end), aware datetimes."""
        local = now.astimezone(ZoneInfo(self.zone))
        for day in (local.date() - timedelta(days=1), local.date(), local.date() + timedelta(days=1)):
            start = datetime.combine(day, self.start, ZoneInfo(self.zone))
            end = datetime.combine(day + timedelta(days=1) if self.end <= self.start else day, self.end,
                                   ZoneInfo(self.zone))
            if now < end:
                return start, end
        raise AssertionError("unreachable: tomorrow's window ends after now")

    def contains(self, now: datetime) -> bool:
        start, end = self.around(now)
        return start <= now < end

    def check(self, now: datetime | None = None, what: str = "the production changes") -> None:
        """WindowMissed unless `now` is inside the window."""
        now = now or utcnow()
        if not self.contains(now):
            start, end = self.around(now)
            raise WindowMissed(
                f"window missed: {what} may only start inside the low-traffic window {self.describe()}; it is "
                f"{now.astimezone(ZoneInfo(self.zone)):%Y-%m-%d %H:%M} there, and the next window opens "
                f"{start:%Y-%m-%d %H:%M}. Nothing was changed on production: trigger the run again (it waits "
                f"for the window after its approval).")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
