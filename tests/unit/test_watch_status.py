"""The line the report tab shows while the watch window runs (gonogo.watching.watch_status)."""

from __future__ import annotations

import stat
from datetime import datetime, timedelta, timezone

from gonogo.watching import watch_status

START = datetime(2026, 12, 7, 4, 0, tzinfo=timezone.utc)


def state(tmp_path, hours: float = 48, line: str = "watch: status running", ended: bool = False) -> dict:
    watch_status.write(tmp_path, started=START.isoformat(), deadline=(START + timedelta(hours=hours)).isoformat(),
                       line=line, ended=ended)
    return watch_status.read(tmp_path)


def test_time_left_is_counted_when_read(tmp_path):
    found = state(tmp_path)
    assert watch_status.describe(found, START + timedelta(minutes=30)).startswith(
        "Watch window running: 30 min of 48.0 h, 47.5 h left (ends 2026-12-09 04:00 UTC). Last read ")
    assert watch_status.describe(found, START + timedelta(hours=47, minutes=59)).startswith(
        "Watch window running: 48.0 h of 48.0 h, 60 s left")
    late = watch_status.describe(found, START + timedelta(hours=48, minutes=5))
    assert late.startswith("Watch window due to end at 2026-12-09 04:00 UTC, 5 min ago: its result is on its way")
    assert found["line"] in late


def test_the_file_is_private_and_a_missing_or_broken_one_reads_as_none(tmp_path):
    state(tmp_path)
    assert stat.S_IMODE((tmp_path / watch_status.FILE).stat().st_mode) == 0o600
    assert watch_status.read(tmp_path / "elsewhere") is None
    (tmp_path / watch_status.FILE).write_text("{not json")
    assert watch_status.read(tmp_path) is None


def test_the_banner_goes_above_the_report_escaped_and_leaves_when_the_window_ends(tmp_path):
    html = "<!doctype html><html><body><header>GO</header></body></html>"
    shown = watch_status.banner(html, state(tmp_path, line="worse than baseline: <script>"), START)
    assert shown.index('id="watch-status"') > shown.index("<body>") and shown.index("watch-status") < shown.index("GO")
    assert "&lt;script&gt;" in shown and "<script>" not in shown
    assert watch_status.banner(html, state(tmp_path, ended=True), START) == html
    assert watch_status.banner(html, None) == html
