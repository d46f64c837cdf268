"""Where a run keeps its files. They hold production data: folders 0700, files 0600."""

from __future__ import annotations

import os
import re
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]


def root() -> Path:
    """GONOGO_ARTIFACTS_DIR, or artifacts/ in the project."""
    return Path(os.environ.get("GONOGO_ARTIFACTS_DIR", PROJECT_DIR / "artifacts"))


def run_dir(dag_id: str, run_id: str, base: Path | None = None) -> Path:
    """artifacts/<dag_id>/<run_id>/ (made on first use, private to this OS user)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)
    path = Path(base or root()) / dag_id / safe
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def write_private(path: Path, text: str) -> Path:
    """Write text to a file only its owner can read, replacing it atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)
    return path
