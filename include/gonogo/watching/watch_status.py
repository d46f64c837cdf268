"""Where a running watch window stands, kept beside the run's report: the watch task writes it
when it starts, its trigger after each poll, and the report tab shows it above the report with
the time left counted when the page is opened (Airflow 3.3 has no way for a task to write the
run's note). Light on imports: the API server's report plugin reads it."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from html import escape
from pathlib import Path

from gonogo.artifacts import write_private
from gonogo.apply.progress import duration

FILE = "watch.json"


def write(folder: Path, *, started: str, deadline: str, line: str, ended: bool = False) -> None:
    """The window's start and deadline (ISO, UTC), the last progress line, and whether it ended."""
    write_private(Path(folder) / FILE, json.dumps({
        "started": started, "deadline": deadline, "line": line, "ended": ended,
        "updated": datetime.now(timezone.utc).isoformat()}))


def read(folder: Path) -> dict | None:
    try:
        return json.loads((Path(folder) / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def describe(state: dict, now: datetime | None = None) -> str:
    """"Watch window running: 12 min of 48.0 h, 47.8 h left (ends 2026-12-09 04:00 UTC)", or
    that its end is overdue; then the last poll's line and when it was read."""
    now = now or datetime.now(timezone.utc)
    started, deadline = datetime.fromisoformat(state["started"]), datetime.fromisoformat(state["deadline"])
    total, left = (deadline - started).total_seconds(), (deadline - now).total_seconds()
    ends = f"{deadline:%Y-%m-%d %H:%M} UTC"
    head = (f"Watch window running: {duration(max(0.0, total - left))} of {duration(total)}, "
            f"{duration(left)} left (ends {ends})" if left > 0 else
            f"Watch window due to end at {ends}, {duration(-left)} ago: its result is on its way")
    updated = datetime.fromisoformat(state["updated"])
    return f"{head}. Last read {updated:%H:%M:%S} UTC — {state['line']}"


def banner(html: str, state: dict | None, now: datetime | None = None) -> str:
    """The report's HTML with the running window's line above it; unchanged when no window runs."""
    if not state or state.get("ended"):
        return html
    strip = (f'<div id="watch-status" role="status" style="padding:.6rem 1rem;background:#fff8e1;'
             f'border-bottom:1px solid #e0c060;font-family:system-ui,sans-serif">⏳ '
             f'{escape(describe(state, now))}</div>')
    at = html.find("<body>")
    return html[:at + len("<body>")] + strip + html[at + len("<body>"):] if at >= 0 else strip + html
