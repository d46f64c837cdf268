"""What `gonogo lint PATH...` lints: a PATH as the author has it, no manifest needed.

- a batch name or a batch folder (manifest.yaml): every step's migration and rollback, as the
  DAG's lint gate lints them;
- a migration tool's folder as it is (Prisma, Flyway, golang-migrate, dbmate, Sqitch, Alembic;
  the tool read from the layout): each migration as the tool runs it (one transaction or
  statement by statement), its down/undo/revert file as a rollback;
- a .sql file: linted as its tool runs it when it is one of the migrations of a tool's folder
  (a dbmate file's up and down sections apart), else statement by statement like psql -f;
- a folder: every .sql file under it, sorted, each a step of its own, except that a batch
  folder or a tool's folder met on the way is linted as such.

    targets = [resolve(path, batches_root) for path in paths]
    found = lint_files([f for t in targets for _, files in t.steps for f in files])

Nothing here imports the batch loader (jsonschema) or a database driver unless a PATH is a batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gonogo import tools
from gonogo.errors import BatchError
from gonogo.authoring.limits import MAX_SQL_BYTES
from gonogo.lint import FileToLint, KnownSchema, batch_files
from gonogo.postgres.sqlfile import STATEMENTS, SqlFile, read_sql_file

# The largest file the lint reads (gonogo.authoring.limits: what any SQL file of a batch may be).
MAX_BYTES = MAX_SQL_BYTES

_SKIPPED_FOLDERS = {"node_modules", "__pycache__", "venv", "site-packages"}


@dataclass(frozen=True)
class Target:
    """One PATH: what it is (batch, file, folder or a tool's name), the batch when it is one,
    and its steps, each a name and the files to lint."""

    path: Path
    kind: str
    steps: list[tuple[str, list[FileToLint]]] = field(default_factory=list)
    batch: object | None = None
    ignored: dict[str, str] = field(default_factory=dict)  # a file the tool does not run -> why, linted all the same

    @property
    def files(self) -> list[FileToLint]:
        return [f for _, files in self.steps for f in files]


def resolve(given: str, batches_root: Path) -> list[Target]:
    """What one PATH names, as one or more targets (a folder holding batches or tools' folders
    gives one each, then one for its plain .sql files)."""
    path = Path(given)
    if (batches_root / given / "manifest.yaml").is_file() and len(path.parts) == 1:
        return [_batch(batches_root / given)]
    if path.is_file():
        kind, steps = _file(path)
        return [Target(path.resolve(), kind, steps)]
    if path.is_dir():
        return _folder(path)
    if len(path.parts) == 1 and path.suffix != ".sql":
        from gonogo.batch import load_batch

        load_batch(given, batches_root)  # raises, naming the batches it knows
    raise BatchError(f"{given}: no such file or folder, nor a batch under {batches_root}")


def tool_of(folder: Path) -> str | None:
    """The migration tool whose layout the folder has, read from its files alone."""
    from gonogo.tools.dbmate import _FILE as DBMATE_FILE, _UP as DBMATE_UP
    from gonogo.tools.flyway import _NAME as FLYWAY_FILE
    from gonogo.tools.golang_migrate import _FILE as GOLANG_MIGRATE_FILE

    try:
        children = sorted(folder.iterdir())
    except OSError:
        return None
    names = {p.name for p in children}
    if "alembic.ini" in names:
        return "alembic"
    if "sqitch.plan" in names:
        return "sqitch"
    if "migration_lock.toml" in names or any((p / "migration.sql").is_file() for p in children if p.is_dir()):
        return "prisma"
    files = [p for p in children if p.is_file() and p.suffix == ".sql"]
    if any(GOLANG_MIGRATE_FILE.match(p.name) for p in files):
        return "golang-migrate"
    if any(FLYWAY_FILE.match(p.name) and p.name[1:2].isdigit() for p in files):
        return "flyway"
    if any(DBMATE_FILE.match(p.name) and DBMATE_UP.search(p.read_text(errors="replace")) for p in files):
        return "dbmate"
    return None


def _batch(folder: Path) -> Target:
    from gonogo.batch import load_batch

    folder = folder.resolve()
    batch = load_batch(folder.name, folder.parent)
    files = batch_files(batch)  # as the DAG's lint gate: two per step, knowing what ran before
    return Target(folder, "batch", [(s.name, files[2 * i: 2 * i + 2]) for i, s in enumerate(batch.steps)], batch)


def _tool(name: str, folder: Path) -> Target:
    _not_too_large(folder)
    migrations = _migrations(name, folder)
    target = Target(folder.resolve(), name, [(m.name, _migration_files(m, _known_before(migrations, m)))
                                             for m in migrations])
    tool = tools.get(name)
    for path in tools.not_run(folder, [p for m in migrations for p in (m.up.path, m.down and m.down.path) if p]):
        target.steps.append((path.stem, [FileToLint(_not_empty(read(path)), name=str(path))]))
        target.ignored[str(path)] = (f"not one of the folder's {name} migrations (its name is outside the layout: "
                                     f"{tool.layout}), so not run by {name} nor by gonogo; linted statement by "
                                     f"statement all the same")
    return target


def _known_before(migrations: list[tools.Migration], migration: tools.Migration) -> KnownSchema:
    """The schema the tool's earlier migrations leave (column types, foreign keys). Their tables
    are not new: in an author's checkout, production applied the earlier ones long ago."""
    before = migrations[: migrations.index(migration)]
    return KnownSchema.of(s for m in before for s in m.up.statements)


def _migrations(name: str, folder: Path) -> list[tools.Migration]:
    try:
        return tools.get(name).migrations(folder)
    except ModuleNotFoundError as exc:  # Alembic's migrations are Python: Alembic renders their SQL
        raise BatchError(f"{folder}: an {name} folder; gonogo needs {exc.name} installed to read its "
                         f"migrations (pip install {exc.name})") from None


def _migration_files(migration: tools.Migration, known: KnownSchema | None = None) -> list[FileToLint]:
    known = known or KnownSchema()
    files = [FileToLint(_not_empty(migration.up), name=str(migration.up.path), known=known)]
    if migration.down is not None and migration.down.statements:
        files.append(FileToLint(migration.down, rollback=True, name=str(migration.down.path),
                                known=known.after(migration.up.statements)))
    return files


def _file(path: Path) -> tuple[str, list[tuple[str, list[FileToLint]]]]:
    """(the tool's name or "file", the file's step): a file as its tool runs it, when it is a
    migration of a tool's folder, else statement by statement."""
    _not_too_large(path)
    absolute = path.resolve()
    for folder, nested in ((absolute.parent, False), (absolute.parent.parent, True)):
        name = tool_of(folder)
        # Two levels up only for the tools whose migrations sit a folder deeper: a file's
        # grandparent is otherwise any folder (a temp dir holding some other project).
        if name is None or (nested and not _nested_in(name, absolute)):
            continue
        migrations = _migrations(name, folder)
        for migration in migrations:
            if absolute in (migration.up.path.resolve(), migration.down and migration.down.path.resolve()):
                return name, [(migration.name, _migration_files(migration, _known_before(migrations, migration)))]
    return "file", [(path.stem, [FileToLint(_not_empty(read(path)), name=str(path))])]


def _nested_in(name: str, file: Path) -> bool:
    """Whether the file sits where the tool keeps migrations a folder below its root: Prisma's
    <name>/migration.sql, Sqitch's deploy/ and revert/ scripts."""
    if name == "prisma":
        return file.name == "migration.sql"
    return name == "sqitch" and file.parent.name in ("deploy", "revert", "verify")


def _folder(folder: Path) -> list[Target]:
    if (folder / "manifest.yaml").is_file():
        return [_batch(folder)]
    if name := tool_of(folder):
        return [_tool(name, folder)]
    found: list[Target] = []
    plain = Target(folder.resolve(), "folder")
    for child in sorted(folder.iterdir()):
        if child.name.startswith(".") or child.name in _SKIPPED_FOLDERS:
            continue
        if child.is_dir():
            inner = _folder(child)
            plain.steps.extend(step for t in inner if t.kind == "folder" for step in t.steps)
            found.extend(t for t in inner if t.kind != "folder")
        elif child.suffix == ".sql" and child.is_file():
            step = f"{folder.name}/{child.stem}" if child.stem in ("up", "down") else child.stem  # diesel's
            plain.steps.append((step, [FileToLint(_not_empty(read(child)), name=str(child),
                                                        rollback=_is_down(child))]))
    if not found and not plain.steps:
        raise BatchError(f"{folder}: no .sql file in this folder or under it, and not a batch or a migration "
                         f"tool's folder ({', '.join(tools.NAMES)})")
    return [*found, plain] if plain.steps else found


def _is_down(path: Path) -> bool:
    """A plain folder's down file (diesel's <migration>/down.sql, goose-style *.down.sql): a
    rollback, where dropping what the up file made is the point, not a finding."""
    return path.name == "down.sql" or path.name.endswith((".down.sql", "_down.sql"))


def read(path: Path) -> SqlFile:
    """A .sql file run statement by statement; BatchError naming the file and line of what
    cannot be linted (too large, not UTF-8, a syntax error)."""
    _not_too_large(path)
    return read_sql_file(path, mode=STATEMENTS)


def _not_too_large(path: Path) -> None:
    """BatchError for a file (or a .sql file in a tool's folder) larger than the lint reads."""
    for file in sorted(path.rglob("*.sql")) if path.is_dir() else [path]:
        if (size := file.stat().st_size) > MAX_BYTES:
            raise BatchError(f"{file} line 1: {size / 2**20:.0f} MB, more than the {MAX_BYTES // 2**20} MB the "
                             f"lint reads; a migration that large is a data load: put its DDL in a file of its "
                             f"own and lint that, and load the data with COPY")


def _not_empty(sql_file: SqlFile) -> SqlFile:
    if not any(not s.implicit for s in sql_file.statements):
        what = "empty" if not sql_file.text.strip() else "only comments"
        raise BatchError(f"{str(sql_file.path)} line 1: no SQL statement ({what}); an empty migration is "
                         f"most likely a mistake (not saved, or written in another file): write the migration, "
                         f"or delete the file")
    return sql_file

