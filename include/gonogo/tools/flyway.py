"""Flyway: V<version>__<description>.sql (U<version>__... its undo), history in flyway_schema_history.

No Flyway can be installed here (Maven Central and Redgate's downloads are out of reach, and
no Debian, PyPI or npm package ships it), so this module and its tests follow Flyway's source
(flyway/flyway):

- Names (flyway-core ResourceNameParser, MigrationVersion): the version is what comes between
  the prefix and the first `__`, `_` read as `.`, compared part by part as numbers (1.10 comes
  after 1.9, 1.0 equals 1); the description is the rest without `.sql`, `_` read as a space.
  The location is searched recursively; `script` is the path relative to it. A file named
  otherwise (`V1_init.sql`) is left out, as Flyway leaves it out by default.
- The row (JdbcTableSchemaHistory.doAddAppliedMigration): installed_rank max + 1, version as
  written, description, type 'SQL', script, checksum, installed_by the session's user,
  installed_on the column's default now(), execution_time in ms, success true — in the
  migration's own transaction, as Flyway writes it. A row with success = false (left by a
  migration that ran outside a transaction) stops Flyway until `flyway repair`.
- The checksum (flyway-core ChecksumCalculator): CRC32 over the UTF-8 bytes of each line
  without its line terminator, a leading BOM dropped, as a signed 32-bit int — so it does not
  change with line endings. Checked against three checksums real Flyway wrote (gonogo's notes,
  tools.md 2.4) and by tests/integration/tools/test_flyway.py.
- Transactions (flyway-database-postgresql PostgreSQLParser.detectCanExecuteInTransaction):
  each migration runs in one transaction, unless a statement of it cannot (CREATE/DROP INDEX
  CONCURRENTLY, CREATE/DROP DATABASE|TABLESPACE|SUBSCRIPTION, ALTER SYSTEM, REINDEX
  SCHEMA|DATABASE|SYSTEM, VACUUM, DISCARD ALL), or its script config `V...sql.conf` says
  `executeInTransaction=false`: then gonogo runs it statement by statement. (Flyway without
  `mixed=true` refuses a file that mixes both kinds; gonogo runs it as `mixed=true` does.)
- outOfOrder is false by default: a pending version below an applied one stops the import.
- Undo (U files, Flyway Teams) adds an UNDO_SQL row; gonogo's rollback deletes the
  migration's row instead, so the version is simply pending again for Flyway.

Limitation, on purpose: repeatable migrations (R__*.sql) are not steps. Flyway re-runs one
whenever its checksum changes, after every versioned migration; it has no version to order
it by, no undo, and its previous text is in git, not in the folder, so gonogo could neither
place it in the rollout nor roll it back. gonogo leaves them out, neither applied nor
recorded: after the rollout `flyway migrate` applies any that changed, as after any release.
flyway.conf settings (another table name or schema, group, prefixes, placeholders) are not
read: gonogo works with Flyway's defaults.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from pglast import ast, enums

from gonogo.errors import BatchError
from gonogo.postgres.sqlfile import STATEMENTS, TRANSACTION, SqlFile, query, read_sql_file, read_text, split_statements
from gonogo.postgres.statements import Statement
from gonogo.tools import Applied, Migration, MigrationTool, one_transaction

if TYPE_CHECKING:  # the lint reads a tool's folder without a database driver
    import psycopg

_SQL = "tools_flyway.sql"
_NAME = re.compile(r"^(?P<prefix>[VU])(?P<version>.*?)__(?P<description>.*)\.sql$")  # up to the first __
_VERSION = re.compile(r"^\d+(\.\d+)*$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Baseline(Applied):
    """A BASELINE row (`flyway baseline`): every version up to it counts as applied."""


class Flyway(MigrationTool):
    name = "flyway"
    mode = TRANSACTION
    history = ("public.flyway_schema_history",)
    status_command = "flyway validate"
    layout = ("V<version>__<description>.sql (and U<version>__<description>.sql, its undo) in Flyway's "
              "location (db/migration); R__ repeatables are left out")
    baseline_hint = "flyway baseline -baselineVersion=<the version production is at>"
    out_of_order = False

    def migrations(self, folder: Path) -> list[Migration]:
        folder = Path(folder)
        found: dict[str, dict[str, tuple[Path, re.Match]]] = {}
        for path in sorted(folder.rglob("*.sql")) if folder.is_dir() else ():
            if not path.is_file() or not (match := _NAME.match(path.name)):
                continue
            text = match["version"].replace("_", ".")
            if not _VERSION.match(text):
                raise BatchError(f"{path}: {match['version']!r} is not a Flyway version (numbers separated by "
                                 f"'.' or '_'); Flyway stops on it too. Rename the file V<version>__<description>.sql")
            same = found.setdefault(version_key(text), {})
            if other := same.get(match["prefix"]):
                raise BatchError(f"{path}: version {text} is also {other[0].relative_to(folder)}'s; Flyway refuses "
                                 f"two migrations with one version. Give one of them a new version")
            same[match["prefix"]] = (path, match)
        if not any("V" in pair for pair in found.values()):
            raise BatchError(f"{folder}: no Flyway migrations here; Flyway's layout is {self.layout}. Point at "
                             f"Flyway's location, the folder that holds the V files")
        out = []
        for key in sorted(found, key=_order):
            pair = found[key]
            if "V" not in pair:
                raise BatchError(f"{pair['U'][0]}: undoes version {key}, which has no V file. Remove it, or "
                                 f"restore the V file")
            path, match = pair["V"]
            out.append(Migration(
                key=key, name=path.stem, up=_read(path), down=_read(pair["U"][0]) if "U" in pair else None,
                checksum=str(checksum(path.read_bytes())),
                info={"version": match["version"].replace("_", "."),
                      **_abbreviated(match["description"].replace("_", " "), path.relative_to(folder).as_posix())}))
        return out

    def applied(self, conn: psycopg.Connection) -> list[Applied] | None:
        if not conn.execute(query(_SQL, "flyway_exists")).fetchone()[0]:
            return None
        state: dict[str, Applied] = {}
        for version, kind, recorded, success in conn.execute(query(_SQL, "flyway_applied")):
            if version is None or kind == "SCHEMA":
                continue  # a repeatable's row, or the marker of a schema Flyway created
            key = version_key(version)
            if kind in ("BASELINE", "INIT"):  # INIT: older Flyway's name for it
                state[key] = Baseline(key=key)
            elif kind.startswith("UNDO"):  # Flyway Teams' undo: the version is pending again
                if success:
                    state.pop(key, None)
                else:
                    state[key] = Applied(key=key, ok=False, problem="flyway_schema_history marks its undo failed "
                                                                    "(success = false)")
            else:
                state[key] = Applied(
                    key=key, checksum=None if recorded is None else str(recorded), ok=success,
                    problem="" if success else "flyway_schema_history marks it failed (success = false): it "
                                               "stopped half-way, outside a transaction")
        return list(state.values())

    def done(self, migrations: list[Migration], applied: list[Applied]) -> set[str]:
        """The versions applied, and every version up to a baseline."""
        keys = {a.key for a in applied if a.ok and not isinstance(a, Baseline)}
        if baselines := [_order(a.key) for a in applied if isinstance(a, Baseline)]:
            keys |= {m.key for m in migrations if _order(m.key) <= max(baselines)}
        return keys

    def resolve_hint(self, migration: Migration) -> str:
        return (f"check which statements of {migration.up.path.name} took effect and undo them by hand, then "
                f"`flyway repair` (it deletes the failed row) and run gonogo again")

    def record(self, conn: psycopg.Connection, migration: Migration, *, started: datetime) -> None:
        elapsed = datetime.now(timezone.utc) - started
        with one_transaction(conn):  # the table whole or not at all
            if not conn.execute(query(_SQL, "flyway_exists")).fetchone()[0]:
                for statement in split_statements(query(_SQL, "flyway_create")):
                    conn.execute(statement)
            conn.execute(query(_SQL, "flyway_record"), {
                **{k: migration.info[k] for k in ("version", "description", "script")},
                "checksum": int(migration.checksum), "execution_time": int(elapsed.total_seconds() * 1000)})

    def forget(self, conn: psycopg.Connection, migration: Migration) -> None:
        conn.execute(query(_SQL, "flyway_forget"), {"version": migration.info["version"]})


def checksum(raw: bytes) -> int:
    """Flyway's checksum of a migration file: CRC32 of its lines' UTF-8 bytes, line terminators
    (\\r\\n, \\r, \\n) left out, a leading BOM dropped, as a signed 32-bit int."""
    text = raw.decode()
    crc = 0
    for line in _LINE_BREAK.split(text.removeprefix("\ufeff")):
        crc = zlib.crc32(line.encode(), crc)
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def version_key(version: str) -> str:
    """A version as Flyway compares it: numeric parts, trailing zeros dropped ('1.0' is '1')."""
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return ".".join(map(str, parts))


def _order(key: str) -> tuple[int, ...]:
    return tuple(int(p) for p in key.split("."))


def _abbreviated(description: str, script: str) -> dict[str, str]:
    """Description and script as Flyway shortens them to fit their columns (AbbreviationUtils)."""
    return {"description": description if len(description) <= 200 else description[:197] + "...",
            "script": script if len(script) <= 1000 else "..." + script[3:1000]}


def _read(path: Path) -> SqlFile:
    """The file, in one transaction unless Flyway would run it without one."""
    up = read_sql_file(path, mode=TRANSACTION)
    if _config(path).get("executeInTransaction", "").strip().lower() == "false" \
            or any(_outside_transaction(s) for s in up.statements):
        return dataclasses.replace(up, mode=STATEMENTS)
    return up


def _config(path: Path) -> dict[str, str]:
    """The script config file beside a migration (V1__x.sql.conf): key=value lines."""
    conf = path.with_name(path.name + ".conf")
    if not conf.is_file():
        return {}
    lines = (line.strip() for line in read_text(conf).splitlines())
    return dict((k.strip(), v) for k, _, v in (line.partition("=") for line in lines if line and line[0] not in "#!"))


_NO_TRANSACTION = (ast.CreatedbStmt, ast.DropdbStmt, ast.CreateTableSpaceStmt, ast.DropTableSpaceStmt,
                   ast.CreateSubscriptionStmt, ast.DropSubscriptionStmt, ast.AlterSystemStmt)
_REINDEX_MANY = (enums.ReindexObjectType.REINDEX_OBJECT_SCHEMA, enums.ReindexObjectType.REINDEX_OBJECT_SYSTEM,
                 enums.ReindexObjectType.REINDEX_OBJECT_DATABASE)


def _outside_transaction(statement: Statement) -> bool:
    """Flyway's own list of statements that make it run a migration without a transaction.
    (ALTER TYPE ... ADD VALUE is on it only for PostgreSQL before 12.)"""
    node = statement.node
    if isinstance(node, ast.IndexStmt):
        return bool(node.concurrent)
    if isinstance(node, ast.DropStmt):
        return bool(node.concurrent) and node.removeType == enums.ObjectType.OBJECT_INDEX
    if isinstance(node, ast.ReindexStmt):
        return node.kind in _REINDEX_MANY
    if isinstance(node, ast.VacuumStmt):
        return bool(node.is_vacuumcmd)
    if isinstance(node, ast.DiscardStmt):
        return node.target == enums.DiscardMode.DISCARD_ALL
    return isinstance(node, _NO_TRANSACTION)


TOOL = Flyway()
