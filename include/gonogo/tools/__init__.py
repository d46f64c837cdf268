"""The team's migration tool: its folder read as a batch, its history table kept true.

One module per tool, each a MigrationTool: how the tool lays out its migrations (read in the
tool's order, files used as they are), how it runs them (in one transaction or statement by
statement), which of them a database has applied (its own history table), and the row it
writes when it applies one — which gonogo writes too, in the same transaction as the
migration, so that after gonogo's rollout the tool's own status command says nothing is
pending and the tool applies the next migration on top as usual.

    tool = tools.get("prisma")
    migrations = tool.migrations(folder)            # in the tool's order
    done, pending = tools.split(tool, migrations, tool.applied(conn))
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gonogo.errors import BatchError

if TYPE_CHECKING:
    import psycopg

    from gonogo.postgres.sqlfile import SqlFile

# name -> module under gonogo.tools; loaded when asked for (DAG parse time reads only the names)
NAMES = {"prisma": "prisma", "flyway": "flyway", "golang-migrate": "golang_migrate", "dbmate": "dbmate",
         "sqitch": "sqitch", "alembic": "alembic"}


@dataclass(frozen=True)
class Migration:
    """One migration of the tool's folder.

    key: what the tool's history records it by (Prisma's migration name, Flyway's version, ...).
    name: the step's name in gonogo (the folder or file name, without .sql).
    up / down: its forward SQL and, where the tool has one, its down/undo/revert SQL, each with
    the mode the tool runs it in. checksum: the tool's own checksum of it, as its history
    records it (None where the tool keeps none). info: what else the tool's history row needs."""

    key: str
    name: str
    up: SqlFile
    down: SqlFile | None = None
    checksum: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    verify: SqlFile | None = None  # the tool's verify script (Sqitch): an error means the change is wrong


@dataclass(frozen=True)
class Applied:
    """A migration as the tool's history on a database records it. ok=False: the tool itself
    marks it failed or dirty (problem says how), and will not go on until someone resolves it."""

    key: str
    checksum: str | None = None
    ok: bool = True
    problem: str = ""


class MigrationTool(ABC):
    name: str = ""
    mode: str = "transaction"       # how the tool runs a migration file (gonogo.postgres.sqlfile)
    history: tuple[str, ...] = ()   # its history tables ("schema.table") or schemas ("schema."): not the app's
    history_writes: tuple[str, ...] = ("INSERT", "DELETE")  # what record() and forget() do to a history table
    status_command: str = ""        # the tool's own command that lists pending migrations
    layout: str = ""                # the folder layout, for an error about a folder that is not it

    @abstractmethod
    def migrations(self, folder: Path) -> list[Migration]:
        """Every migration in the folder, in the order the tool applies them; a folder that is
        not the tool's layout raises BatchError naming what was expected."""

    @abstractmethod
    def applied(self, conn: psycopg.Connection) -> list[Applied] | None:
        """What the database's history records (None: the tool never ran there)."""

    @abstractmethod
    def record(self, conn: psycopg.Connection, migration: Migration, *, started: datetime) -> None:
        """Write what the tool writes once the migration applied (the history table created
        first where the tool would create it)."""

    @abstractmethod
    def forget(self, conn: psycopg.Connection, migration: Migration) -> None:
        """Undo record(): what the tool does when it rolls the migration back."""

    out_of_order: bool = True       # applies a pending migration older than one already applied

    def resolve_hint(self, migration: Migration) -> str:
        """What to do about a migration the tool's history marks failed or dirty."""
        return f"resolve it with the tool ({self.status_command} says more), then run gonogo again"

    baseline_hint: str = ""         # how the team tells the tool that an existing database is at a migration

    def same_checksum(self, recorded: str, migration: Migration) -> bool:
        """Whether the checksum the history recorded is the file's (a tool that forgives line
        endings overrides this)."""
        return str(recorded) == str(migration.checksum)

    def done(self, migrations: list[Migration], applied: list[Applied]) -> set[str]:
        """Keys of the migrations the history says are applied (a tool that records only the
        current version overrides this)."""
        return {a.key for a in applied if a.ok}


def get(name: str) -> MigrationTool:
    if name not in NAMES:
        raise BatchError(f"unknown migration tool {name!r}: gonogo imports {', '.join(NAMES)}")
    return importlib.import_module(f"gonogo.tools.{NAMES[name]}").TOOL


def one_transaction(conn: psycopg.Connection) -> AbstractContextManager:
    """Where record/forget write more than one statement: inside the migration's transaction
    that transaction already holds them together; after a file that ran without one, they get
    a transaction of their own, so the tool never sees half of what they write."""
    from psycopg import pq

    return conn.transaction() if conn.info.transaction_status == pq.TransactionStatus.IDLE else nullcontext()


def split(tool: MigrationTool, migrations: list[Migration],
          applied: list[Applied] | None) -> tuple[list[Migration], list[Migration]]:
    """(applied before, pending), in the tool's order. Stops with what to do when the history
    marks a migration failed or dirty, or recorded another checksum than its file has now."""
    recorded = {a.key: a for a in applied or ()}
    by_key = {m.key: m for m in migrations}
    problems = []
    for a in recorded.values():
        migration = by_key.get(a.key)
        where = migration.up.path if migration else f"migration {a.key}"
        if not a.ok:
            problems.append(f"{where}: {a.problem}. What to do: "
                            + (tool.resolve_hint(migration) if migration else
                               f"resolve it with the tool ({tool.status_command})"))
        elif migration and a.checksum is not None and migration.checksum is not None \
                and not tool.same_checksum(a.checksum, migration):
            problems.append(
                f"{where}: {tool.name} recorded checksum {a.checksum} when it applied {a.key}, the file "
                f"now has {migration.checksum}: it was edited after it ran. What to do: restore the file as "
                f"it was applied (git log -p on it), and put the change in a new migration")
    if problems:
        raise BatchError(f"{tool.name}'s history on this database stops the import:\n"
                         + "\n".join(f"  - {p}" for p in problems))
    keys = tool.done(migrations, list(recorded.values()))
    done = [m for m in migrations if m.key in keys]
    pending = [m for m in migrations if m.key not in keys]
    if not tool.out_of_order and done and pending:
        last = max(migrations.index(m) for m in done)
        if early := [m for m in pending if migrations.index(m) < last]:
            raise BatchError(
                f"{early[0].up.path}: {early[0].key} is pending, but {migrations[last].key}, which comes after it, "
                f"is applied already; {tool.name} refuses to apply a migration out of order. What to do: give it "
                f"a version after {migrations[last].key}")
    return done, pending


def not_run(folder: Path, ran: list[Path]) -> list[Path]:
    """The .sql files directly in the folder that are none of the files run: names outside the
    tool's layout, which golang-migrate and Flyway pass over without a word. gonogo says so, and
    the lint reads them all the same."""
    done = {Path(p).resolve() for p in ran}
    return [p for p in sorted(Path(folder).iterdir()) if p.is_file() and p.suffix == ".sql" and p.resolve() not in done]
