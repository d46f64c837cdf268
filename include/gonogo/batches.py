"""Where batches live, cheap enough for DAG parse time (no SQL parsing, no database driver)."""

from __future__ import annotations

import os
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Outline:
    """What a batch's DAG is drawn from at parse time: its id, title and steps (order, name, enabled
    by the manifest), read from manifest.yaml alone. The whole batch (files, SQL, schema) is
    checked when a run starts (prepare.validate_batch)."""

    id: str
    title: str
    steps: tuple[tuple[int, str, bool], ...]


def outline(folder: Path) -> Outline:
    """Raises ValueError (a manifest that is not YAML or has no steps list, or one imported from
    a migration tool's folder) naming the file."""
    import yaml

    path = Path(folder) / "manifest.yaml"
    try:
        manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(manifest, dict) and "steps" not in manifest and isinstance(manifest.get("source"), dict):
            # Reading a tool's folder parses every migration (0.4 s for a few): too slow for the
            # DAG processor, which parses this file every minute.
            raise ValueError(f"its migrations are read from the {manifest['source'].get('tool')} folder at each "
                             f"run, not when Airflow parses the DAGs, so it has no DAG of its own: roll it out "
                             f"from gonogo_rollout (batch {manifest.get('id', Path(folder).name)})")
        steps = sorted((int(s["order"]), Path(s["file"]).stem, bool(s.get("enabled", True)))
                       for s in manifest["steps"])
        return Outline(str(manifest.get("id", Path(folder).name)), str(manifest.get("title", "")), tuple(steps))
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {type(exc).__name__}: {exc}") from exc


def outlines(root: Path | None = None) -> tuple[list[Outline], list[str]]:
    """The batches under the batches directory that have not been retired (moved into its
    `retired/` folder once applied everywhere: their history stays in production), and what was
    wrong with each manifest that could not be read."""
    found, problems = [], []
    for name in available_batches(root):
        try:
            found.append(outline(Path(root or batches_dir()) / name))
        except ValueError as exc:
            problems.append(str(exc))
    return found, problems
