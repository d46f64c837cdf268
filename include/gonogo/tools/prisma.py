"""Prisma Migrate: prisma/migrations/<timestamp>_<name>/migration.sql, history in _prisma_migrations.

Prisma applies the folders in name order (the timestamp prefix), each migration.sql sent as
one multi-statement script — PostgreSQL runs that as one implicit transaction. It keeps no
down migrations: gonogo drafts a rollback, or the team writes one (gonogo.drafts).
The history row: a random uuid id, the sha256 of migration.sql (hex), the folder name,
started_at / finished_at, applied_steps_count 1 once applied; logs and rolled_back_at stay
NULL. A row with finished_at NULL and rolled_back_at NULL is a failed migration, which
`prisma migrate deploy` refuses to go past until `prisma migrate resolve`.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from pathlib import Path

import psycopg

from gonogo.errors import BatchError
from gonogo.sqlfile import TRANSACTION, query, read_sql_file
from gonogo.tools import Applied, Migration, MigrationTool


class Prisma(MigrationTool):
    name = "prisma"
    mode = TRANSACTION
    history = ("public._prisma_migrations",)
    status_command = "npx prisma migrate status"
    layout = "prisma/migrations/<timestamp>_<name>/migration.sql (and migration_lock.toml)"

    def migrations(self, folder: Path) -> list[Migration]:
        folder = Path(folder)
        found = sorted(p for p in folder.iterdir() if p.is_dir() and (p / "migration.sql").is_file()) \
            if folder.is_dir() else []
        if not found:
            raise BatchError(f"{folder}: no Prisma migrations here; Prisma's layout is {self.layout}. "
                             f"Point at the folder that holds migration_lock.toml")
        return [Migration(key=p.name, name=p.name, up=read_sql_file(p / "migration.sql", mode=self.mode),
                          checksum=hashlib.sha256((p / "migration.sql").read_bytes()).hexdigest())
                for p in found]

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
        conn.execute(query("tools.sql", "prisma_create"))
        conn.execute(query("tools.sql", "prisma_record"), {
            "id": str(uuid.uuid4()), "checksum": migration.checksum, "name": migration.key, "started": started})

    def forget(self, conn: psycopg.Connection, migration: Migration) -> None:
        conn.execute(query("tools.sql", "prisma_forget"), {"name": migration.key})


TOOL = Prisma()
