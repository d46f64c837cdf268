"""Prisma Migrate: prisma/migrations/<timestamp>_<name>/migration.sql, history in _prisma_migrations.

Prisma applies the folders in name order (the timestamp prefix), each migration.sql sent as
one multi-statement script — PostgreSQL runs that as one implicit transaction. It keeps no
down migrations: gonogo drafts a rollback, or the team writes one (gonogo.authoring.drafts).
The history row (prisma-engines, sql_migration_persistence.rs): a random uuid id, the sha256
of migration.sql (hex, checksum.rs), the folder name, started_at / finished_at, and
applied_steps_count 1 once applied; logs and rolled_back_at stay NULL. Prisma writes it
around the script's transaction, gonogo inside it. A row with finished_at NULL and
rolled_back_at NULL is a failed migration, which `prisma migrate deploy` refuses to go past
(P3009) until `prisma migrate resolve`; a rolled-back row is applied again.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gonogo.errors import BatchError
from gonogo.postgres.sqlfile import TRANSACTION, query, read_sql_file
from gonogo.tools import Applied, Migration, MigrationTool

if TYPE_CHECKING:  # the lint reads a tool's folder without a database driver
    import psycopg


class Prisma(MigrationTool):
    name = "prisma"
    mode = TRANSACTION
    history = ("public._prisma_migrations",)
    status_command = "npx prisma migrate status"
    layout = "prisma/migrations/<timestamp>_<name>/migration.sql (and migration_lock.toml)"

    baseline_hint = "npx prisma migrate resolve --applied <each migration production already has>"

    def migrations(self, folder: Path) -> list[Migration]:
        folder = Path(folder)
        found = [p for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []
        if not any((p / "migration.sql").is_file() for p in found):
            raise BatchError(f"{folder}: no Prisma migrations here; Prisma's layout is {self.layout}. "
                             f"Point at the folder that holds migration_lock.toml")
        if missing := [p for p in found if not (p / "migration.sql").is_file()]:
            raise BatchError(f"{missing[0]}: a folder in Prisma's migrations without migration.sql; Prisma "
                             f"stops on it too. Add the file or remove the folder")
        # Prisma sorts with JavaScript's localeCompare; for timestamped names it equals byte order,
        # but not for every name: refuse what could run in another order than Prisma's.
        found.sort(key=lambda p: p.name)
        if [p.name for p in found] != sorted((p.name for p in found), key=lambda n: (n.casefold(), n)):
            raise BatchError(f"{folder}: the migration folder names sort differently by byte and by locale "
                             f"(Prisma's order); name them <14-digit timestamp>_<name> so the order is certain")
        return [Migration(key=p.name, name=p.name, up=read_sql_file(p / "migration.sql", mode=self.mode),
                          checksum=checksum((p / "migration.sql").read_bytes())) for p in found]

    def same_checksum(self, recorded: str, migration: Migration) -> bool:
        """Prisma accepts the file as it is, or with its line endings switched either way."""
        text = migration.up.path.read_bytes().decode("utf-8", errors="replace")
        return recorded in {checksum(v.encode()) for v in (text, text.replace("\r\n", "\n"),
                                                            text.replace("\n", "\r\n"))}

    def applied(self, conn: psycopg.Connection) -> list[Applied] | None:
        if not conn.execute("SELECT to_regclass('public._prisma_migrations') IS NOT NULL").fetchone()[0]:
            return None
        out = []
        for name, checksum, finished, rolled_back in conn.execute(query("tools.sql", "prisma_applied")):
            if rolled_back is not None:
                continue  # `migrate resolve --rolled-back`: Prisma applies it again
            out.append(Applied(key=name, checksum=checksum, ok=finished is not None,
                               problem="" if finished else "_prisma_migrations marks it failed (finished_at is "
                                                           "NULL): Prisma started it and did not finish"))
        return out

    def resolve_hint(self, migration: Migration) -> str:
        return (f"find out what of it applied, then `npx prisma migrate resolve --rolled-back {migration.key}` "
                f"(nothing of it stayed) or `--applied {migration.key}` (all of it did)")

    def record(self, conn: psycopg.Connection, migration: Migration, *, started: datetime) -> None:
        if self.applied(conn) is None:  # the first migration ever: the table as Prisma creates it
            conn.execute(query("tools.sql", "prisma_create"))
        conn.execute(query("tools.sql", "prisma_record"), {
            "id": str(uuid.uuid4()), "checksum": migration.checksum, "name": migration.key, "started": started})

    def forget(self, conn: psycopg.Connection, migration: Migration) -> None:
        conn.execute(query("tools.sql", "prisma_forget"), {"name": migration.key})


def checksum(raw: bytes) -> str:
    """Prisma's: sha256 (hex) of the file as Node reads it (UTF-8, a bad byte as U+FFFD), BOM kept."""
    return hashlib.sha256(raw.decode("utf-8", errors="replace").encode()).hexdigest()


TOOL = Prisma()
