"""Where a run keeps its files. They hold production data: folders 0700, files 0600."""

from __future__ import annotations

import hashlib
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
    request for another run's folder cannot reach outside the artifacts root. A name that had to
    change gets a hash of the original, so two run ids ("a:b", "a_b") never share a folder."""
    def safe(name: str) -> str:
        cleaned = _UNSAFE.sub("_", name).lstrip(".") or "_"
        if cleaned == name:
            return name
        return f"{cleaned}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"

    return Path(base or root()) / safe(dag_id) / safe(run_id)


def run_dir(dag_id: str, run_id: str, base: Path | None = None) -> Path:
    """run_path, made on first use: it and every folder made on the way private to this OS user
    (mkdir's mode applies to the last folder only, and the umask may widen none of them)."""
    path = run_path(dag_id, run_id, base)
    private_dir(path)
    return path


def private_dir(path: Path) -> Path:
    """`path` and its missing parents made 0700 (the run names in them are nobody else's)."""
    missing = [p for p in [path, *path.parents] if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
    return path


def write_private(path: Path, text: str) -> Path:
    """Write text to a file only its owner can read, replacing it atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)
    return path
