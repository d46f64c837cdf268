"""golang-migrate: <version>_<title>.up.sql / .down.sql, history in schema_migrations(version, dirty).

No golang-migrate binary can be installed here (no Debian, PyPI or npm package; building it
needs the Go module proxy), so this module and its tests follow golang-migrate's source
(golang-migrate/migrate):

- source/parse.go: a file is `^([0-9]+)_(.*)\\.(down|up)\\.(.*)$`; the version is a uint64
  (`1` and `000001` are one version, two up files of one version an error); files apply in
  version order; a version may lack its down file.
- database/postgres/postgres.go: the table `schema_migrations (version bigint not null
  primary key, dirty boolean not null)` in the current schema holds at most one row, the
  current version: SetVersion is `TRUNCATE; INSERT (version, dirty)` in one transaction.
- migrate.go runMigrations: SetVersion(v, dirty=true), the file, SetVersion(v, false). A
  failure leaves (v, true): "Dirty database version v. Fix and force version." Down sets the
  previous version, or empties the table below the first migration.
- The file is sent as one Exec (the simple query protocol): PostgreSQL runs a multi-statement
  file as one implicit transaction, so gonogo runs it in one transaction. The
  `x-multi-statement` URL option (split on `;`) lives in the team's database URL, not in the
  folder: gonogo does not see it. No checksum.

So the database says only which version it is at: every migration up to it is applied, and a
file added later with a lower version is taken as applied by golang-migrate too (it never
runs it) — gonogo cannot tell it from one that ran. gonogo writes the final row, (version,
false), in the migration's own transaction; `migrate version` then prints the highest version.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gonogo.errors import BatchError
from gonogo.postgres.sqlfile import TRANSACTION, query, read_sql_file
from gonogo.tools import Applied, Migration, MigrationTool, one_transaction

if TYPE_CHECKING:  # the lint reads a tool's folder without a database driver
    import psycopg

_FILE = re.compile(r"^([0-9]+)_(.*)\.(down|up)\.(.*)$")
_SQL = "tools_golang_migrate.sql"


class GolangMigrate(MigrationTool):
    name = "golang-migrate"
    mode = TRANSACTION
    history = ("public.schema_migrations",)
    history_writes = ("INSERT", "TRUNCATE")
    status_command = "migrate -path <dir> -database <url> version"
    layout = "<version>_<title>.up.sql and <version>_<title>.down.sql (migrate create -ext sql -seq)"
    baseline_hint = "migrate -path <dir> -database <url> force <the version production is at>"
    out_of_order = False

    def migrations(self, folder: Path) -> list[Migration]:
        folder = Path(folder)
        files: dict[int, dict[str, Path]] = {}
        for path in sorted(folder.iterdir()) if folder.is_dir() else ():
            if path.is_file() and (match := _FILE.match(path.name)):
                version, direction = int(match[1]), match[3]
                if other := files.setdefault(version, {}).get(direction):
                    raise BatchError(f"{path}: version {version} has a second {direction} file ({other.name}); "
                                     f"golang-migrate stops on that too. Give one of them a new version")
                files[version][direction] = path
        if not any("up" in pair for pair in files.values()):
            raise BatchError(f"{folder}: no golang-migrate migrations here; golang-migrate's layout is "
                             f"{self.layout}. Point at the folder given to migrate -path")
        out, previous = [], None
        for version in sorted(files):
            pair = files[version]
            if "up" not in pair:
                raise BatchError(f"{pair['down']}: version {version} has a down file but no up file; "
                                 f"golang-migrate would only record the version. Add its .up.sql")
            up = pair["up"]
            out.append(Migration(
                key=str(version), name=_FILE.match(up.name)[0].rsplit(".up.", 1)[0],
                up=read_sql_file(up, mode=self.mode),
                down=read_sql_file(pair["down"], mode=self.mode) if "down" in pair else None,
                info={"previous": previous}))
            previous = version
        return out

    def applied(self, conn: psycopg.Connection) -> list[Applied] | None:
        if not conn.execute("SELECT to_regclass('public.schema_migrations') IS NOT NULL").fetchone()[0]:
            return None
        rows = conn.execute(query(_SQL, "golang_migrate_applied")).fetchall()
        if len(rows) > 1:
            raise BatchError(f"public.schema_migrations holds {len(rows)} rows "
                             f"({', '.join(str(v) for v, _ in rows)}); golang-migrate keeps exactly one, the "
                             f"current version, and reads an arbitrary one of these. What to do: find the "
                             f"version production is at, then `migrate ... force <it>`")
        return [Applied(key=str(version), ok=not dirty,
                        problem=f"schema_migrations is dirty at version {version}: a migration failed half-way"
                        if dirty else "") for version, dirty in rows]

    def done(self, migrations: list[Migration], applied: list[Applied]) -> set[str]:
        """Every migration up to the one version the table holds."""
        if not (current := [int(a.key) for a in applied if a.ok]):
            return set()
        if str(current[0]) not in {m.key for m in migrations}:
            raise BatchError(f"public.schema_migrations says version {current[0]}, but no migration in the folder "
                             f"has that version; golang-migrate stops there too (no migration found for it). "
                             f"What to do: restore that migration's files, or point at the right folder")
        return {m.key for m in migrations if int(m.key) <= current[0]}

    def resolve_hint(self, migration: Migration) -> str:
        previous = migration.info.get("previous")
        below = -1 if previous is None else previous  # -1: no version (the table emptied)
        return (f"check which statements of {migration.up.path.name} took effect, then either finish it by hand "
                f"and `migrate -path <dir> -database <url> force {migration.key}`, or undo them and "
                f"`migrate ... force {below}`; then run gonogo again")

    def record(self, conn: psycopg.Connection, migration: Migration, *, started: datetime) -> None:
        conn.execute(query(_SQL, "golang_migrate_create"))
        self._set(conn, int(migration.key))

    def forget(self, conn: psycopg.Connection, migration: Migration) -> None:
        """What `migrate down 1` leaves: the previous version, or no row below the first."""
        self._set(conn, migration.info.get("previous"))

    @staticmethod
    def _set(conn: psycopg.Connection, version: int | None) -> None:
        """SetVersion: emptied and set in one transaction, never seen empty."""
        with one_transaction(conn):
            conn.execute(query(_SQL, "golang_migrate_clear"))
            if version is not None:
                conn.execute(query(_SQL, "golang_migrate_set"), {"version": version})


TOOL = GolangMigrate()
