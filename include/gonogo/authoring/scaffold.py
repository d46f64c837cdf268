"""A new batch folder for a migration author to fill in (python -m gonogo new-batch).

Named like the shipped batches: `<YYYYMMDD>_<snake_case>` for the batch, and
`<YYYYMMDD>120000_<snake_case>.sql` for its first migration, whose rollback is
`<that name>_rollback.sql`. The files (templates/new_batch/) are valid as written — a manifest
that gonogo.batch loads, and placeholder SQL that lint and plan accept — and their comments
say what to write.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from string import Template

from gonogo.errors import BatchError

_TEMPLATES = Path(__file__).parents[1] / "templates" / "new_batch"
_NAME = re.compile(r"(?:(?P<date>\d{8})_)?(?P<words>[a-z][a-z0-9]*(?:_[a-z0-9]+)*)")


def batch_id(name: str, today: date) -> str:
    """The batch id for NAME: `user_tags` -> `<today>_user_tags`; `20250301_user_tags` as is."""
    match = _NAME.fullmatch(name)
    if not match:
        raise BatchError(f"batch name {name!r} does not follow the convention: lower-case words joined "
                         f"by underscores (e.g. user_tags), optionally after a date as YYYYMMDD_ "
                         f"(e.g. {today:%Y%m%d}_user_tags)")
    if match["date"]:
        try:
            datetime.strptime(match["date"], "%Y%m%d")
        except ValueError:
            raise BatchError(f"batch name {name!r} starts with {match['date']}, which is not a date "
                             f"(YYYYMMDD); e.g. {today:%Y%m%d}_{match['words']}") from None
        return name
    return f"{today:%Y%m%d}_{name}"


def new_batch(name: str, root: Path, today: date | None = None) -> Path:
    """Create the batch folder under `root` and return it; an existing folder is never touched."""
    ident = batch_id(name, today or date.today())
    if not root.is_dir():
        raise BatchError(f"the batches directory {root} does not exist: create it, or point "
                         f"--batches-dir (or GONOGO_BATCHES_DIR) at the folder that holds your batches")
    folder = root / ident
    try:
        folder.mkdir()
    except FileExistsError:
        raise BatchError(f"{folder} already exists: new-batch never overwrites a batch. Pick another "
                         f"name, or edit that batch") from None
    day, words = ident.split("_", 1)
    step = f"{day}120000_{words}"
    values = {"batch_id": ident, "step": step, "title": words.replace("_", " ").capitalize()}
    for template, target in (("manifest.yaml", "manifest.yaml"),
                             ("migration.sql", f"migrations/{step}.sql"),
                             ("rollback.sql", f"rollbacks/{step}_rollback.sql")):
        path = folder / target
        path.parent.mkdir(exist_ok=True)
        path.write_text(Template((_TEMPLATES / template).read_text()).substitute(values))
    return folder
