"""A drafted rollback for a migration the tool gives none (Prisma keeps no down migrations).

Only additive DDL has an inverse that needs nothing but the migration itself: CREATE TABLE,
INDEX, TYPE, SEQUENCE, VIEW, TRIGGER, EXTENSION and ALTER TABLE ... ADD COLUMN / ADD
CONSTRAINT each become the matching DROP, in reverse order. Everything else (an UPDATE, a
DROP, a RENAME, a type change, SET NOT NULL, an enum value, IF NOT EXISTS — which may have
found the object there already) needs what was there before, which only the team knows: the
draft stops and names each such statement, "write the rollback for FILE line N: STATEMENT".
The rollback rehearsal on staging proves every draft, like any written rollback.
"""

from __future__ import annotations

import re

from dataclasses import dataclass
from pathlib import Path

from pglast import ast, enums
from psycopg import sql

from gonogo.errors import BatchError
from gonogo.postgres.sqlfile import SqlFile, read_sql_file
from gonogo.postgres.statements import created_tables

_AT = enums.AlterTableType
_OBJ = enums.ObjectType
DRAFT_MARK = "-- drafted by gonogo"


@dataclass(frozen=True)
class NotInvertible:
    file: Path
    line: int
    statement: str
    why: str

    def __str__(self) -> str:
        return f"write the rollback for {self.file} line {self.line}: {self.statement} ({self.why})"


class NoDraft(BatchError):
    """Some statements of a migration have no inverse gonogo can write."""

    def __init__(self, missing: list[NotInvertible]):
        super().__init__("\n".join(f"  - {m}" for m in missing))
        self.missing = missing


def draft_rollback(up: SqlFile, path: Path) -> SqlFile:
    """The inverse of `up`, as a SqlFile at `path` (which need not exist: the draft lives in
    memory until `python -m gonogo import --write` saves it for review). Raises NoDraft."""
    undo: list[str] = []
    missing: list[NotInvertible] = []
    new_tables = created_tables(list(up.statements))
    for statement in up.statements:
        if statement.is_transaction_control or isinstance(statement.node, (ast.VariableSetStmt, ast.CommentStmt)):
            continue  # nothing to undo (a comment goes with its object)
        if _on_new_table(statement.node, new_tables):
            continue  # an index or constraint of a table this migration creates goes with its DROP TABLE
        try:
            undo.extend(_inverse(statement.node))
        except _Refused as exc:
            missing.append(NotInvertible(up.path, statement.line, statement.summary(80), str(exc)))
    if missing:
        raise NoDraft(missing)
    header = (f"{DRAFT_MARK} from {up.path.parent.name}/{up.path.name}: its additive DDL undone in reverse order.\n"
              f"-- Review it; save your own as this file to replace it.\n")
    text = header + "".join(f"{s};\n" for s in reversed(undo)) if undo else header + "SELECT 1;  -- nothing to undo\n"
    return read_sql_file(path, mode=up.mode, text=text)


class _Refused(Exception):
    pass


def _ident(*names: str | None) -> str:
    return sql.Identifier(*[n for n in names if n]).as_string()


def _relation(rv: ast.RangeVar) -> str:
    return _ident(rv.schemaname, rv.relname)


def _qualified(names) -> str:
    return _ident(*(n.sval for n in names))


def _inverse(node: ast.Node) -> list[str]:
    """DROP statements that undo `node`, in the order it did things (reversed by the caller)."""
    match node:
        case ast.CreateStmt():
            _no_if_not_exists(node, "table")
            return [f"DROP TABLE IF EXISTS {_relation(node.relation)}"]
        case ast.IndexStmt():
            _no_if_not_exists(node, "index")
            if not node.idxname:
                raise _Refused("an index without a name: PostgreSQL picks one, so name it")
            # CONCURRENTLY: the table was there before and the app uses it (gonogo runs it alone)
            return [f"DROP INDEX CONCURRENTLY IF EXISTS {_ident(node.relation.schemaname, node.idxname)}"]
        case ast.CreateEnumStmt() | ast.CompositeTypeStmt() | ast.CreateDomainStmt():
            names = node.typeName if not isinstance(node, ast.CompositeTypeStmt) else None
            name = _qualified(names) if names else _relation(node.typevar)
            return [f"DROP {'DOMAIN' if isinstance(node, ast.CreateDomainStmt) else 'TYPE'} IF EXISTS {name}"]
        case ast.CreateSeqStmt():
            _no_if_not_exists(node, "sequence")
            return [f"DROP SEQUENCE IF EXISTS {_relation(node.sequence)}"]
        case ast.ViewStmt():
            if node.replace:
                raise _Refused("CREATE OR REPLACE may have replaced a view that was there before")
            return [f"DROP VIEW IF EXISTS {_relation(node.view)}"]
        case ast.CreateTrigStmt():
            if node.replace:
                raise _Refused("CREATE OR REPLACE may have replaced a trigger that was there before")
            return [f"DROP TRIGGER IF EXISTS {_ident(node.trigname)} ON {_relation(node.relation)}"]
        case ast.CreateExtensionStmt():
            _no_if_not_exists(node, "extension")
            return [f"DROP EXTENSION IF EXISTS {_ident(node.extname)}"]
        case ast.AlterTableStmt() if node.objtype == _OBJ.OBJECT_TABLE:
            return [_undo_command(node.relation, cmd) for cmd in node.cmds or ()]
    raise _Refused(_why(node))


def _on_new_table(node: ast.Node, new_tables: set[str]) -> bool:
    """An index, or an ALTER TABLE that only adds constraints, on a table the migration creates."""
    if isinstance(node, ast.IndexStmt):
        return node.relation.relname in new_tables
    if isinstance(node, ast.AlterTableStmt) and node.relation.relname in new_tables:
        return all(cmd.subtype == _AT.AT_AddConstraint for cmd in node.cmds or ())
    return False


def _undo_command(relation: ast.RangeVar, cmd: ast.AlterTableCmd) -> str:
    table = _relation(relation)
    if cmd.subtype == _AT.AT_AddColumn:
        if cmd.missing_ok:
            raise _Refused("ADD COLUMN IF NOT EXISTS may have found the column there already")
        return f"ALTER TABLE {table} DROP COLUMN IF EXISTS {_ident(cmd.def_.colname)}"
    if cmd.subtype == _AT.AT_AddConstraint:
        if not cmd.def_.conname:
            raise _Refused("a constraint without a name: PostgreSQL picks one, so name it")
        return f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {_ident(cmd.def_.conname)}"
    raise _Refused(_why(cmd))


def _no_if_not_exists(node, what: str) -> None:
    if getattr(node, "if_not_exists", False):
        raise _Refused(f"IF NOT EXISTS may have found the {what} there already")


def _why(node) -> str:
    kind = type(node).__name__
    if isinstance(node, ast.AlterTableCmd):
        kind = _AT(node.subtype).name.removeprefix("AT_")
    reasons = {
        "UpdateStmt": "an UPDATE changes data: only the team knows the old values",
        "DeleteStmt": "a DELETE removes data: restore it from a backup or keep it elsewhere first",
        "InsertStmt": "an INSERT adds rows gonogo cannot tell from the app's",
        "DropStmt": "a DROP loses what was there: recreate it from the previous schema",
        "RenameStmt": "a RENAME: rename it back",
        "AlterEnumStmt": "PostgreSQL cannot remove an enum value: recreate the type without it",
        "AlterColumnType": "a type change: change it back to the old type",
        "SetNotNull": "SET NOT NULL: DROP NOT NULL only if it was nullable before",
        "DropNotNull": "DROP NOT NULL: SET NOT NULL again if it was not nullable before",
        "ColumnDefault": "a DEFAULT change: set the old default back",
        "DropColumn": "a dropped column and its data are gone: re-add it and restore the data",
        "DropConstraint": "a dropped constraint: re-add it as it was",
    }
    # a statement's own words, not the parser's node name (CreateFunctionStmt -> CREATE FUNCTION)
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", kind.removesuffix("Stmt")).upper()
    return reasons.get(kind, f"{words} has no inverse gonogo can draft")
