"""What the migration-tool tests share: gonogo applying and rolling back an imported batch the
way a rollout does (apply_steps / rollback_steps with gonogo's ledger), a table's DDL as
pg_dump prints it, and a SQL file run as one simple query (how most tools send a file)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from gonogo.batch import Batch
from gonogo.postgres.pgbin import find_bindir
from gonogo.apply.steps import BatchRun, Ledger, apply_steps, rollback_steps

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
RUN_ID = "run-1"


def quiet(_: str) -> None:
    pass


def apply_pending(conn, batch: Batch) -> BatchRun:
    """Every step of the batch applied by gonogo, each recorded in gonogo's and the tool's history."""
    return apply_steps(conn, list(batch.steps), phase="production", live_traffic=False, log=quiet,
                       ledger=Ledger(batch, RUN_ID))


def roll_back(conn, batch: Batch) -> BatchRun:
    """Every step of the batch rolled back by gonogo, last first."""
    return rollback_steps(conn, list(batch.steps), phase="production", log=quiet, ledger=Ledger(batch, RUN_ID))


def run_file(conn, path: Path) -> None:
    """The whole file as one query string (the simple query protocol: a multi-statement file is
    one implicit transaction), as dbmate, golang-migrate and Prisma send a migration."""
    conn.execute(Path(path).read_text())


def table_ddl(target, table: str) -> str:
    """pg_dump's definition of one table (columns, defaults, constraints, indexes): compared
    between a table gonogo created and one the tool (or its documented DDL) created."""
    out = subprocess.run([str(find_bindir() / "pg_dump"), "--schema-only", "--no-owner", "--table", table],
                         env={**os.environ, **target.libpq_env()}, capture_output=True, text=True, check=True)
    return "\n".join(line for line in out.stdout.splitlines()
                     if line.strip() and not line.startswith(("--", "\\restrict", "\\unrestrict", "SET ", "SELECT ")))


def copy_migrations(source: Path, dest: Path, names: list[str] | None = None) -> Path:
    """The tool's migrations folder copied (only the files named, when given) for a test to change."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        if path.is_file() and (names is None or any(path.name.startswith(n) for n in names)):
            shutil.copy2(path, dest / path.name)
    return dest
