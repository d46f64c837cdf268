"""What every benchmark shares: the machine it ran on, repetitions, medians and ratios, and
tables printed to the terminal and saved as Markdown (artifacts/bench/<name>.md) for the README.

Benchmarks measure; they never fail on a number. A run that could not measure something says
so in its table ("not measured: why"), it does not leave the cell out.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from gonogo import artifacts
from gonogo.postgres.pgbin import find_bindir

REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))  # repetitions of each method, medians reported


# Read once: the DAG benchmark's fixtures point GONOGO_ARTIFACTS_DIR at a temporary folder.
_OUT = Path(os.environ.get("BENCH_OUT", artifacts.root() / "bench"))


def out_dir() -> Path:
    _OUT.mkdir(parents=True, exist_ok=True)
    return _OUT


def machine() -> str:
    """One line: CPU, cores, memory, OS, PostgreSQL server, Python."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    server = subprocess.run([str(find_bindir() / "postgres"), "--version"], capture_output=True,
                            text=True).stdout.strip()
    return (f"{cpu}, {os.cpu_count()} cores, {mem_kb / 1024 / 1024:.0f} GiB RAM, {platform.system()} "
            f"{platform.release()}, {server}, Python {platform.python_version()}")


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ratio(a: float, b: float) -> str:
    """a / b as "2.3×" ("—" when b is 0)."""
    return f"{a / b:.1f}×" if b else "—"


def table(name: str, title: str, header: Sequence[str], rows: Sequence[Sequence[object]],
          notes: Sequence[str] = ()) -> str:
    """Print a Markdown table with its title, the machine and the notes; save it as <name>.md."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |"

    text = "\n".join([
        f"### {title}", "",
        f"_{machine()}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; median of {REPEAT} runs unless said_", "",
        line(cells[0]), "| " + " | ".join("-" * w for w in widths) + " |", *(line(r) for r in cells[1:]),
        "", *notes]).rstrip() + "\n"
    print("\n" + text, flush=True)
    (out_dir() / f"{name}.md").write_text(text)
    return text


def scales(default: str) -> list[float]:
    """The recipe app's scales to measure: env BENCH_SCALES ("1,5,10") limits them while developing."""
    return [float(s) for s in os.environ.get("BENCH_SCALES", default).split(",")]
