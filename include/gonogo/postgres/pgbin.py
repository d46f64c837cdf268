"""Where PostgreSQL's programs are (initdb, pg_ctl, pg_dump, pg_restore): the snapshot and the
backup run pg_dump and pg_restore from here, the local clusters initdb and pg_ctl."""

from __future__ import annotations

import functools
import glob
import shutil
import subprocess
from pathlib import Path

from gonogo.errors import SetupError

INSTALL_HINT = (
    "Install the PostgreSQL server and contrib packages "
    "(Debian/Ubuntu: apt-get install postgresql-15 postgresql-contrib-15), "
    "or put the directory holding initdb and pg_ctl on PATH."
)


@functools.cache
def find_bindir(layouts: tuple[str, ...] = ("/usr/lib/postgresql/*/bin",)) -> Path:
    """Where initdb, pg_ctl, pg_dump and pg_restore live: PATH, pg_config --bindir, or Debian's layout."""
    candidates: list[Path] = []
    if found := shutil.which("initdb"):
        candidates.append(Path(found).parent)
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    versions = sorted((p for layout in layouts for p in glob.glob(layout)),
                      key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
                      reverse=True)
    candidates.extend(Path(p) for p in versions)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres", "pg_dump")):
            return bindir
    raise SetupError(f"PostgreSQL server binaries (initdb, pg_ctl) not found. {INSTALL_HINT}")
