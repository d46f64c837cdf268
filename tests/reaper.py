"""Ends what a test session started once that session's process is gone.

pytest-timeout ends a hung worker with os._exit: no fixture's teardown runs, and its clusters,
Airflow stack and Slack stand-in would go on using the CPU the rest of the suite needs. Every
process the session starts inherits GONOGO_TEST_OWNER=<its pid>; this watchdog, started detached
by tests/conftest.py, waits for that pid to end and then stops every process still marked with it.

    python tests/reaper.py PID
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

MARK = "GONOGO_TEST_OWNER"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def marked(owner: int) -> list[int]:
    """The processes whose environment carries the owner's mark."""
    needle = f"{MARK}={owner}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes() + b"\0":
                found.append(int(entry.name))
        except OSError:
            continue  # gone already, or not ours to read
    return found


def main(owner: int) -> None:
    while alive(owner):
        time.sleep(2)
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 0)):
        left = marked(owner)
        for pid in left:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + grace
        while left and time.monotonic() < deadline:
            time.sleep(0.5)
            left = [pid for pid in left if alive(pid)]
        if not left:
            return


if __name__ == "__main__":
    main(int(sys.argv[1]))
