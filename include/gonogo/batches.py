"""Where batches live, cheap enough for DAG parse time (no SQL parsing, no database driver)."""

from __future__ import annotations

import os
from pathlib import Path

SHIPPED_BATCHES = Path(__file__).resolve().parent.parent / "batches"


def batches_dir() -> Path:
    """GONOGO_BATCHES_DIR, or the batches shipped in include/batches."""
    return Path(os.environ.get("GONOGO_BATCHES_DIR", SHIPPED_BATCHES))


def available_batches(root: Path | None = None) -> list[str]:
    """Folder names under the batches directory that hold a manifest."""
    root = Path(root or batches_dir())
    if not root.is_dir():
        return []
    return sorted(p.parent.name for p in root.glob("*/manifest.yaml"))
