"""Where a run keeps its files. They hold production data: folders 0700, files 0600."""

from __future__ import annotations

import os
import re
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]


def root() -> Path:
    """GONOGO_ARTIFACTS_DIR, or artifacts/ in the project."""
    return Path(os.environ.get("GONOGO_ARTIFACTS_DIR", PROJECT_DIR / "artifacts"))


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def run_path(dag_id: str, run_id: str, base: Path | None = None) -> Path:
    """artifacts/<dag_id>/<run_id>/, named safely: no separator or leading dot survives, so a
    request for another run's folder cannot reach outside the artifacts root."""
    def safe(name: str) -> str:
        return _UNSAFE.sub("_", name).lstrip(".") or "_"

    return Path(base or root()) / safe(dag_id) / safe(run_id)


def run_dir(dag_id: str, run_id: str, base: Path | None = None) -> Path:
    """run_path, made on first use, private to this OS user."""
    path = run_path(dag_id, run_id, base)
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
