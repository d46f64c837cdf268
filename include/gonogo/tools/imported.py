"""A batch made from the team's migration tool folder (gonogo.tools), files used as they are.

    batch = import_batch("prisma", Path("prisma/migrations"))     # every migration, in order
    batch = pending(batch, production_conn)                        # only what production lacks

Each migration is a step: its file as the tool runs it (one transaction, or statement by
statement), its rollback the team's own (`rollbacks/<step>.sql` in the batch folder, or a
manifest override), else the tool's down/undo/revert file, else gonogo's draft
(gonogo.authoring.drafts), marked drafted. A step's kind is read from what its SQL does.

`pending` reads the tool's history on a database: the migrations applied there leave the
batch (and become the schema production should have: `applied_before`), a migration the
tool marks failed or dirty, or one edited after it ran, stops the import with what to do.
A run pins the pending list it found once (`pinned`), so every later task of the run sees
the same steps even after production has applied them.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from pglast import ast

from gonogo import tools
from gonogo.batch import Batch, Contract, Step
from gonogo.authoring.drafts import NoDraft, draft_rollback
from gonogo.errors import BatchError
from gonogo.postgres.sqlfile import STATEMENTS, SqlFile, read_sql_file
from gonogo.tools import Migration, MigrationTool

def import_batch(tool_name: str, folder: Path, *, batch_id: str | None = None, title: str | None = None,
                 batch_folder: Path | None = None, overrides: dict | None = None) -> Batch:
    """Every migration of the tool's folder as a step, in the tool's order. batch_folder: the
    gonogo batch folder around it (hand-written rollbacks, verify files); overrides: the
    manifest's per-step settings, by step name."""
    tool = tools.get(tool_name)
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise BatchError(f"{folder}: no such folder. Give the folder that holds the {tool.name} migrations "
                         f"({tool.layout})")
    migrations = tool.migrations(folder)
    overrides = dict(overrides or {})
    names = {m.name for m in migrations}
    if unknown := sorted(set(overrides) - names):
        raise BatchError(f"overrides name {', '.join(unknown)}, which is not a migration in {folder}")
    # the team's own rollbacks and files live in a gonogo batch folder, never in the tool's (a
    # rollbacks/ folder among Prisma's migrations would be taken for a migration)
    home = Path(batch_folder) if batch_folder else None
    batch_id = batch_id or default_id(tool, folder)
    steps = tuple(_step(tool, m, order, home, overrides.get(m.name, {}), batch_id)
                  for order, m in enumerate(migrations, start=1))
    verified = tuple(Contract(file=m.verify, after=m.name, once=True) for m in migrations if m.verify)
    return Batch(id=batch_id, title=title or f"{tool.name} migrations in {folder}", path=home or folder, steps=steps,
                 restore_point=f"gonogo_pre_{batch_id}"[:63], tool=tool, source=folder, contracts=verified)


_LAYOUT_NAMES = {"migrations", "migration", "prisma", "db", "database", "sql", "versions", "alembic"}


def default_id(tool: MigrationTool, folder: Path) -> str:
    """A stable batch id for a tool folder given without a manifest (where gonogo's history
    keeps its steps): the tool and the project's folder, past the layout's own names
    (../app/prisma/migrations -> prisma-app)."""
    parts = list(Path(folder).resolve().parts)
    while len(parts) > 1 and parts[-1].lower() in _LAYOUT_NAMES:
        parts.pop()
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{tool.name}-{parts[-1]}")[:100]


def pending(batch: Batch, conn, *, require_rollbacks: bool = True) -> Batch:
    """The batch without the migrations the database's tool history records as applied (those
    become applied_before); stops on a failed, dirty or edited migration, and (unless
    require_rollbacks is False: `import --write` writes the folder for them first) on a pending
    step whose rollback the team must write."""
    if batch.tool is None:
        return batch
    migrations = [s.origin for s in batch.steps]
    applied = batch.tool.applied(conn)
    if applied is None and (tables := _app_tables(conn, batch)):
        raise BatchError(
            f"{batch.source}: this database has {len(tables)} tables ({', '.join(tables[:3])}{', ...' if len(tables) > 3 else ''}) "
            f"but no {batch.tool.name} history ({', '.join(batch.tool.history)}): gonogo would apply every migration "
            f"from the first. If the schema is already at some migration, record that with the tool first "
            f"({batch.tool.baseline_hint or batch.tool.status_command})")
    done, _ = tools.split(batch.tool, migrations, applied)
    return pinned(batch, [s.name for s in batch.steps if s.origin not in done], [m.name for m in done],
                  require_rollbacks=require_rollbacks)


def _app_tables(conn, batch: Batch) -> list[str]:
    from gonogo.postgres.schema import read_schema

    return [obj for kind, obj, _ in read_schema(conn, batch.history_objects).lines if kind == "table"]


def pinned(batch: Batch, steps: list[str], applied: list[str], *, require_rollbacks: bool = True) -> Batch:
    """The batch with exactly these steps pending and these migrations applied before, as a
    run found them once."""
    if batch.tool is None:
        return batch
    by_name = {s.name: s for s in batch.steps}
    if lost := [n for n in [*steps, *applied] if n not in by_name]:
        raise BatchError(f"{', '.join(lost)} left {batch.source} during the run: put the folder back as it was")
    kept = tuple(by_name[n] for n in steps)
    result = dataclasses.replace(batch, steps=kept, applied_before=tuple(by_name[n].origin for n in applied),
                                 contracts=tuple(c for c in batch.contracts if not c.once or c.after in steps))
    if require_rollbacks:
        result.require_rollbacks()
    return result


def _step(tool: MigrationTool, migration: Migration, order: int, home: Path | None, override: dict,
          batch_id: str) -> Step:
    up = migration.up
    if "mode" in override:
        up = dataclasses.replace(up, mode=override["mode"])
    rollback, drafted, missing = _rollback(migration, up, home, override)
    return Step(order=order, kind=override.get("kind") or kind_of(up, ignore=tool.history), forward=up, rollback=rollback,
                verify=_query_file(home, override.get("verify")), precheck=_query_file(home, override.get("precheck")),
                enabled=override.get("enabled", True), disabled_reason=override.get("disabled_reason", ""),
                lock_timeout=override.get("lock_timeout"), batch_id=batch_id, origin=migration,
                rollback_drafted=drafted, rollback_missing=missing)


def _rollback(migration: Migration, up: SqlFile, home: Path | None,
              override: dict) -> tuple[SqlFile, bool, tuple[str, ...]]:
    """(rollback, drafted?, statements nobody can undo yet)."""
    if home is not None:
        written = home / override.get("rollback", f"rollbacks/{migration.name}.sql")
        if written.is_file():
            return read_sql_file(written, mode=up.mode), bool(override.get("rollback_drafted")), ()
        if "rollback" in override:
            raise BatchError(f"{migration.name}: rollback {override['rollback']} does not exist in {home}")
    if migration.down is not None:
        return dataclasses.replace(migration.down, mode=up.mode if "mode" in override else migration.down.mode), \
            False, ()
    path = (home or up.path.parent) / "rollbacks" / f"{migration.name}.sql"  # the draft's name, in memory
    try:
        return draft_rollback(up, path), True, ()
    except NoDraft as exc:
        placeholder = SqlFile(path=path, text="", statements=(), mode=STATEMENTS)
        return placeholder, False, tuple(str(m) for m in exc.missing)


def _query_file(home: Path | None, rel: str | None) -> SqlFile | None:
    return read_sql_file(home / rel) if rel and home else None


def kind_of(up: SqlFile, ignore: tuple[str, ...] = ()) -> str:
    """index, constraint or backfill when every statement is that; schema otherwise. ignore:
    the tool's history tables ("schema.table") and schemas ("schema."), whose rows a tool's
    generated SQL writes itself (Alembic's UPDATE alembic_version): not what the step does."""
    nodes = [n for s in up.statements if not s.is_transaction_control for n in s.nodes()
             if not _writes_history(n, ignore)]
    if nodes and all(isinstance(n, ast.IndexStmt) for n in nodes):
        return "index"
    if nodes and all(isinstance(n, ast.AlterTableStmt) and all(c.subtype.name in ("AT_AddConstraint",
                                                                                   "AT_ValidateConstraint")
                                                               for c in n.cmds or ()) for n in nodes):
        return "constraint"
    if any(isinstance(n, (ast.UpdateStmt, ast.DeleteStmt)) for n in nodes):
        return "backfill"
    return "schema"


def _writes_history(node, history: tuple[str, ...]) -> bool:
    if not history or not isinstance(node, (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt)):
        return False
    table = f"{node.relation.schemaname or 'public'}.{node.relation.relname}"
    return any(table == h or (h.endswith(".") and table.startswith(h)) for h in history)


def write_batch_folder(batch: Batch, root: Path) -> Path:
    """A gonogo batch folder for an imported batch, under root: manifest.yaml whose `source`
    points at the tool's folder (its files stay where they are), and each drafted rollback as
    rollbacks/<step>.sql, marked drafted in the manifest until the team has reviewed it. An
    existing folder is never overwritten."""
    import os

    import yaml

    folder = Path(root).resolve() / batch.id
    if folder.exists():
        raise BatchError(f"{folder} exists already: gonogo never overwrites a batch folder; remove it or give "
                         f"another --write folder")
    (folder / "rollbacks").mkdir(parents=True)
    overrides = {}
    for step in batch.steps:
        if step.rollback_drafted:
            (folder / "rollbacks" / f"{step.name}.sql").write_text(step.rollback.text)
            overrides[step.name] = {"rollback": f"rollbacks/{step.name}.sql", "rollback_drafted": True}
    manifest = {"id": batch.id, "title": batch.title,
                "source": {"tool": batch.tool.name, "path": os.path.relpath(batch.source, folder)}}
    if overrides:
        manifest["overrides"] = overrides
    (folder / "manifest.yaml").write_text(
        "# Written by `python -m gonogo import`: the steps are the tool's migrations, read at each run.\n"
        "# A drafted rollback stays marked drafted until you review it and remove `rollback_drafted`.\n"
        + yaml.safe_dump(manifest, sort_keys=False))
    return folder
