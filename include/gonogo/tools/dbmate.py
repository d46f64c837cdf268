"""dbmate: db/migrations/<version>_<name>.sql, up and down in one file, history in schema_migrations.

Each file holds a `-- migrate:up` section and a `-- migrate:down` section (amacneil/dbmate
pkg/dbmate/migration.go); gonogo reads each section as a SqlFile over the section's text with
the file's own line numbers. The version is the file name's leading digits; files apply in
file name order, and every file whose version schema_migrations lacks is pending, older ones
too (dbmate applies out of order unless --strict).

dbmate runs the up section and its insert into schema_migrations in one transaction
(`BEGIN READ WRITE; <up>; insert ...; COMMIT`), so it has no failed or dirty state; with
`-- migrate:up transaction:false` it sends the section as one query string outside a
transaction (PostgreSQL runs a multi-statement string as one implicit transaction, so a
CONCURRENTLY statement must be alone in its section) and inserts afterwards: gonogo runs that
section statement by statement and records after its last one. Rollback: the down section,
then `delete ... where version = ...`. dbmate keeps no checksum. The real dbmate 2.36.0
(npm, tests/tools/dbmate) checks all of this in tests/integration/tools/test_dbmate.py.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gonogo.errors import BatchError
from gonogo.postgres.sqlfile import STATEMENTS, TRANSACTION, SqlFile, query, read_sql_file, read_text
from gonogo.tools import Applied, Migration, MigrationTool

if TYPE_CHECKING:  # the lint reads a tool's folder without a database driver
    import psycopg

# dbmate's own patterns (migration.go, db.go): a migration file, and its two section directives.
_FILE = re.compile(r"^(\d+).*\.sql$")
_UP = re.compile(r"(?m)^--\s*migrate:up(\s*$|\s+\S+)")
_DOWN = re.compile(r"(?m)^--\s*migrate:down(\s*$|\s+\S+)$")
_EMPTY_OR_COMMENT = re.compile(r"^\s*(--.*)?$")


class Dbmate(MigrationTool):
    name = "dbmate"
    mode = TRANSACTION
    history = ("public.schema_migrations",)
    status_command = "dbmate status --exit-code"
    layout = "db/migrations/<version>_<name>.sql, each with a '-- migrate:up' and a '-- migrate:down' section"
    baseline_hint = "insert into schema_migrations (version) the version of each migration production already has"

    def migrations(self, folder: Path) -> list[Migration]:
        folder = Path(folder)
        # dbmate reads the folder itself, not its subfolders, and sorts by file name
        files = sorted((p for p in folder.iterdir() if p.is_file() and _FILE.match(p.name)),
                       key=lambda p: p.name) if folder.is_dir() else []
        texts = {path: read_text(path) for path in files}
        if not any(_UP.search(text) for text in texts.values()):
            raise BatchError(f"{folder}: no dbmate migrations here; dbmate's layout is {self.layout}. "
                             f"Point at the folder that holds them (dbmate's --migrations-dir, db/migrations)")
        migrations = [self._migration(path, text) for path, text in texts.items()]
        seen: dict[str, Path] = {}
        for migration in migrations:
            if other := seen.get(migration.key):
                # dbmate records the number alone: it would take the second file as applied
                raise BatchError(f"{migration.up.path}: version {migration.key} is also {other.name}'s; dbmate "
                                 f"records a migration by its version alone and would skip one of them. Rename "
                                 f"one with a new version")
            seen[migration.key] = migration.up.path
        return migrations

    def _migration(self, path: Path, text: str) -> Migration:
        up, down = _UP.search(text), _DOWN.search(text)
        if up is None:
            raise BatchError(f"{path}: no '-- migrate:up' line; dbmate refuses a migration without one. Put "
                             f"'-- migrate:up' above the migration's SQL and '-- migrate:down' above its rollback")
        if down is None:
            # dbmate 2.36.0 refuses to apply such a file ("dbmate requires each migration to define a
            # down block"), so a team's dbmate never ran it: gonogo refuses it too.
            raise BatchError(f"{path}: no '-- migrate:down' line; dbmate 2.36.0 refuses to apply a migration "
                             f"without one. Add '-- migrate:down' after the up section, followed by the "
                             f"rollback (left empty, gonogo drafts one for review)")
        if up.start() > down.start():
            raise BatchError(f"{path}: '-- migrate:down' comes before '-- migrate:up'; dbmate refuses that. "
                             f"Put the up section first")
        if before := [n for n, line in enumerate(text[:up.start()].split("\n"), start=1)
                      if not _EMPTY_OR_COMMENT.match(line)]:
            raise BatchError(f"{path} line {before[0]}: a statement before '-- migrate:up'; dbmate refuses it. "
                             f"Move it into the up section")
        down_file = _section(path, text, down.start(), len(text))
        return Migration(key=_FILE.match(path.name)[1], name=path.stem,
                         up=_section(path, text, up.start(), down.start()),
                         # An empty down section is what `dbmate new` writes, so it says nothing about
                         # the team's intent; dbmate's rollback of it would leave the schema as it is.
                         # gonogo treats it as no down: the team's rollbacks/<step>.sql, else a draft.
                         down=down_file if down_file.statements else None)

    def applied(self, conn: psycopg.Connection) -> list[Applied] | None:
        if not conn.execute("SELECT to_regclass('public.schema_migrations') IS NOT NULL").fetchone()[0]:
            return None
        return [Applied(key=version) for (version,) in conn.execute(query("tools_dbmate.sql", "dbmate_applied"))]

    def record(self, conn: psycopg.Connection, migration: Migration, *, started: datetime) -> None:
        conn.execute(query("tools_dbmate.sql", "dbmate_create"))
        conn.execute(query("tools_dbmate.sql", "dbmate_record"), {"version": migration.key})

    def forget(self, conn: psycopg.Connection, migration: Migration) -> None:
        conn.execute(query("tools_dbmate.sql", "dbmate_forget"), {"version": migration.key})


def _section(path: Path, text: str, start: int, end: int) -> SqlFile:
    """One section as dbmate sends it (from its directive line to the next directive), run in a
    transaction unless the directive says transaction:false."""
    section = text[start:end]
    # dbmate's option parsing: the directive line's words, each `key:value` pair an option
    options = dict(word.split(":") for word in section.split("\n", 1)[0].split() if word.count(":") == 1)
    mode = STATEMENTS if options.get("transaction") == "false" else TRANSACTION
    return read_sql_file(path, mode=mode, text=section, first_line=text.count("\n", 0, start) + 1)


TOOL = Dbmate()
