"""The low-traffic window: when it holds, when it opens next, one across midnight, bad input."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from gonogo.errors import BatchError
from gonogo.apply.window import Window, WindowMissed

BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str, zone=BERLIN) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def test_a_night_window_in_its_own_time_zone():
    window = Window.parse("02:00", "04:00", "Europe/Berlin")
    assert window.contains(at("2026-12-07 02:30"))
    assert window.contains(datetime(2026, 12, 7, 1, 30, tzinfo=timezone.utc))  # 02:30 in Berlin (UTC+1)
    assert not window.contains(at("2026-12-07 04:00"))  # the end is not inside
    assert window.around(at("2026-12-06 23:10")) == (at("2026-12-07 02:00"), at("2026-12-07 04:00"))
    assert window.around(at("2026-12-07 05:00")) == (at("2026-12-08 02:00"), at("2026-12-08 04:00"))


def test_a_window_across_midnight_ends_the_next_day():
    window = Window.parse("23:30", "01:00", "Europe/Berlin")
    assert window.contains(at("2026-12-06 23:45")) and window.contains(at("2026-12-07 00:30"))
    assert not window.contains(at("2026-12-07 01:00")) and not window.contains(at("2026-12-07 12:00"))
    assert window.around(at("2026-12-07 00:30")) == (at("2026-12-06 23:30"), at("2026-12-07 01:00"))


def test_outside_the_window_nothing_starts_and_the_message_says_when_it_opens():
    window = Window.parse("02:00", "04:00", "Europe/Berlin")
    with pytest.raises(WindowMissed, match=r"window missed: the migrations may only start inside the low-traffic "
                                           r"window 02:00-04:00 Europe/Berlin; it is 2026-12-07 04:01 there, and "
                                           r"the next window opens 2026-12-08 02:00. Nothing was changed"):
        window.check(at("2026-12-07 04:01"), what="the migrations")
    window.check(at("2026-12-07 03:59"))


@pytest.mark.parametrize("start, end, zone, says", [
    ("2am", "04:00", "UTC", "start '2am' is not a time of day"), ("02:00", "24:00", "UTC", "end '24:00'"),
    ("02:00", "04:00", "Mars/Olympus", "time zone 'Mars/Olympus' is unknown"),
    ("02:00", "02:00", "UTC", "a window needs a length")])
def test_a_window_that_cannot_be_is_refused_with_what_to_write(start, end, zone, says):
    with pytest.raises(BatchError, match=says):
        Window.parse(start, end, zone)
