"""What a batch will do, read from its files alone: the steps in the order the DAG applies them,
and the table lock every statement takes (gonogo.lint.lock_taken), flagged when it makes the
app's reads or writes wait, with the locks it takes on other tables (a foreign key's other
end: lock_taken.other_locks, knowing the constraints production and earlier steps made). No
database is needed: this is the author's view before a dry run measures the real holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from pglast import ast, enums

from gonogo.postgres import locks
from gonogo.batch import Batch, SqlFile, Step
from gonogo.lint.known import KnownSchema, known_before
from gonogo.lint.script import Script, Unit

_OBJ = enums.ObjectType
_ON_TABLE = {_OBJ.OBJECT_TRIGGER, _OBJ.OBJECT_POLICY, _OBJ.OBJECT_RULE}  # DROP x ON table


@dataclass(frozen=True)
class StatementLock:
    line: int
    statement: str     # shortened
    lock: str | None   # the table lock mode it takes; None for none
    table: str | None  # the table it locks, where the statement names it
    index: str | None = None  # DROP INDEX names only the index: the lock is on the index's table
    other_locks: tuple[tuple[str, str], ...] = ()  # (table, mode) on other tables: a foreign key's other end

    @property
    def blocks_app(self) -> bool:
        return any(locks.blocks_app(mode) for mode in (self.lock, *dict(self.other_locks).values()) if mode)

    @property
    def app_waits_for(self) -> str:
        """What of the app's work waits while the locks are held: "reads and writes", "writes" or ""."""
        return waits_for(locks.strongest([self.lock, *dict(self.other_locks).values()]))

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "statement": self.statement, "lock": self.lock, "table": self.table,
                "index": self.index, "blocks_app": self.blocks_app, "app_waits_for": self.app_waits_for,
                "blocks": locks.blocks(self.lock) if self.lock else "",
                "other_locks": [{"table": table, "lock": mode, "app_waits_for": waits_for(mode),
                                 "blocks": locks.blocks(mode)} for table, mode in self.other_locks]}


def waits_for(mode: str | None) -> str:
    """What of the app's work waits while `mode` is held: "reads and writes", "writes" or ""."""
    if not mode or not locks.blocks_app(mode):
        return ""
    return "reads and writes" if "ACCESS SHARE" in locks.conflicts(mode) else "writes"


@dataclass(frozen=True)
class FilePlan:
    file: str  # relative to the batch folder
    statements: tuple[StatementLock, ...]

    @property
    def strongest(self) -> str | None:
        return locks.strongest(m for s in self.statements for m in (s.lock, *dict(s.other_locks).values()))

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "strongest_lock": self.strongest,
                "statements": [s.to_dict() for s in self.statements]}


@dataclass(frozen=True)
class StepPlan:
    order: int
    name: str
    kind: str
    enabled: bool
    disabled_reason: str
    migration: FilePlan
    rollback: FilePlan
    backfill: FilePlan | None  # the batch UPDATE the DAG runs after the migration, in batches
    backfill_note: str         # e.g. 'Recipe.categoryId by id, 1000 rows a transaction, 20 ms pause'
    verify: str | None
    precheck: str | None
    rollback_missing: tuple[str, ...] = ()  # statements whose rollback the team must still write

    @property
    def blocking(self) -> list[StatementLock]:
        """Statements of the migration (and backfill) whose lock makes the app wait."""
        files = [self.migration, *([self.backfill] if self.backfill else [])]
        return [s for f in files for s in f.statements if s.blocks_app]

    def to_dict(self) -> dict[str, Any]:
        return {"order": self.order, "name": self.name, "kind": self.kind, "enabled": self.enabled,
                "disabled_reason": self.disabled_reason, "migration": self.migration.to_dict(),
                "rollback": self.rollback.to_dict(),
                "backfill": ({**self.backfill.to_dict(), "note": self.backfill_note} if self.backfill else None),
                "verify": self.verify, "precheck": self.precheck, "rollback_missing": list(self.rollback_missing),
                "blocks_app": bool(self.blocking)}


def plan_batch(batch: Batch) -> list[StepPlan]:
    """Every step in manifest order (the order the DAG applies the enabled ones in)."""
    return [plan_step(step, batch.path, known_before(batch, step)) for step in batch.steps]


def plan_step(step: Step, root, known: KnownSchema | None = None) -> StepPlan:
    """known: the schema before the step, as far as the files show it (lint.known)."""
    known = known or KnownSchema()
    after = known.after(step.forward.statements)

    def rel(sql_file: SqlFile | None) -> str | None:
        return os.path.relpath(sql_file.path, root) if sql_file else None

    def file_plan(sql_file: SqlFile, known: KnownSchema, rollback: bool = False) -> FilePlan:
        script = Script(sql_file.as_run, file=rel(sql_file), step_kind=step.kind,
                        step_enabled=step.enabled, rollback=rollback, known=known)
        return FilePlan(rel(sql_file), tuple(_statement_lock(script, u) for u in script.units))

    fill = step.backfill
    return StepPlan(order=step.order, name=step.name, kind=step.kind, enabled=step.enabled,
                    disabled_reason=step.disabled_reason, migration=file_plan(step.forward, known),
                    rollback=file_plan(step.rollback, after, rollback=True),
                    backfill=file_plan(fill.batch, after) if fill else None,
                    backfill_note=(f"{fill.table}.{fill.column} by {fill.key}, {fill.batch_size} rows a "
                                   f"transaction, {fill.pause_ms} ms pause" if fill else ""),
                    verify=rel(step.verify), precheck=rel(step.precheck), rollback_missing=step.rollback_missing)


def _statement_lock(script: Script, unit: Unit) -> StatementLock:
    node = unit.node
    table, index = unit.table, None
    if isinstance(node, ast.DropStmt) and node.objects and isinstance(node.objects[0], tuple):
        names = [part.sval for part in node.objects[0]]
        if node.removeType in _ON_TABLE and len(names) > 1:
            table = names[-2]  # DROP TRIGGER t ON "Recipe": ("Recipe", "t")
        elif node.removeType == _OBJ.OBJECT_INDEX:
            index = names[-1]
    elif isinstance(node, ast.SelectStmt) and node.fromClause and isinstance(node.fromClause[0], ast.RangeVar):
        table = node.fromClause[0].relname
    return StatementLock(line=unit.line, statement=unit.summary(), lock=unit.lock, table=table, index=index,
                         other_locks=tuple(script.other_locks(unit).items()))
