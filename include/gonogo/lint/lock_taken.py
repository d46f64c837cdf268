"""The table-level lock a statement takes, read from its parse tree (pglast).

From the PostgreSQL 15 docs: "13.3.1. Table-Level Locks" and the lock notes on the ALTER
TABLE, CREATE INDEX, REINDEX, DROP INDEX and CREATE TRIGGER pages. lock_taken is the mode on
the table a statement names; statements that lock no existing table (CREATE FUNCTION, GRANT,
SET, a new table) give None. other_locks is the mode on each other table it locks: a foreign
key locks both ends. Measured on PostgreSQL 15 (pg_locks inside BEGIN ... ROLLBACK,
tests/integration/test_lint_other_tables.py), on the referenced table:
  ADD FOREIGN KEY (with or without NOT VALID), CREATE TABLE / ADD COLUMN ... REFERENCES:
      SHARE ROW EXCLUSIVE
  VALIDATE CONSTRAINT of a foreign key added NOT VALID: ROW SHARE (of a valid one: none)
  DROP CONSTRAINT of a foreign key, DROP COLUMN of its column, DROP TABLE of the referencing
      table: ACCESS EXCLUSIVE
and on the referencing tables, DROP TABLE ... CASCADE and TRUNCATE ... CASCADE of the
referenced table: ACCESS EXCLUSIVE.
"""

from __future__ import annotations

from pglast import ast, enums
from pglast.visitors import Visitor

from gonogo.lint.known import KnownSchema, looks_like_foreign_key
from gonogo.postgres.locks import LOCK_MODES, strongest

_AT = enums.AlterTableType
_OBJ = enums.ObjectType

# ALTER TABLE subcommands that take less than ACCESS EXCLUSIVE (everything else takes it).
_ALTER_TABLE_MODES = {
    _AT.AT_ValidateConstraint: "SHARE UPDATE EXCLUSIVE",
    _AT.AT_SetStatistics: "SHARE UPDATE EXCLUSIVE",
    _AT.AT_ClusterOn: "SHARE UPDATE EXCLUSIVE",
    _AT.AT_DropCluster: "SHARE UPDATE EXCLUSIVE",
    _AT.AT_SetRelOptions: "SHARE UPDATE EXCLUSIVE",
    _AT.AT_ResetRelOptions: "SHARE UPDATE EXCLUSIVE",
    _AT.AT_AttachPartition: "SHARE UPDATE EXCLUSIVE",
    _AT.AT_DetachPartitionFinalize: "SHARE UPDATE EXCLUSIVE",
    _AT.AT_EnableTrig: "SHARE ROW EXCLUSIVE",
    _AT.AT_EnableAlwaysTrig: "SHARE ROW EXCLUSIVE",
    _AT.AT_EnableReplicaTrig: "SHARE ROW EXCLUSIVE",
    _AT.AT_DisableTrig: "SHARE ROW EXCLUSIVE",
    _AT.AT_EnableTrigAll: "SHARE ROW EXCLUSIVE",
    _AT.AT_DisableTrigAll: "SHARE ROW EXCLUSIVE",
    _AT.AT_EnableTrigUser: "SHARE ROW EXCLUSIVE",
    _AT.AT_DisableTrigUser: "SHARE ROW EXCLUSIVE",
}

_DROP_MODES = {_OBJ.OBJECT_TABLE: "ACCESS EXCLUSIVE", _OBJ.OBJECT_VIEW: "ACCESS EXCLUSIVE",
               _OBJ.OBJECT_MATVIEW: "ACCESS EXCLUSIVE", _OBJ.OBJECT_SEQUENCE: "ACCESS EXCLUSIVE",
               _OBJ.OBJECT_TRIGGER: "ACCESS EXCLUSIVE", _OBJ.OBJECT_POLICY: "ACCESS EXCLUSIVE",
               _OBJ.OBJECT_RULE: "ACCESS EXCLUSIVE", _OBJ.OBJECT_INDEX: "ACCESS EXCLUSIVE"}


def lock_taken(node: ast.Node) -> str | None:
    """The lock mode the statement takes on the table it works on, or None."""
    match node:
        case ast.AlterTableStmt():
            return strongest(alter_table_cmd_lock(cmd) for cmd in node.cmds or ())
        case ast.IndexStmt():
            return "SHARE UPDATE EXCLUSIVE" if node.concurrent else "SHARE"
        case ast.DropStmt():
            if node.removeType == _OBJ.OBJECT_INDEX and node.concurrent:
                return "SHARE UPDATE EXCLUSIVE"
            return _DROP_MODES.get(node.removeType)
        case ast.CreateTrigStmt():
            return "SHARE ROW EXCLUSIVE"
        case ast.UpdateStmt() | ast.DeleteStmt() | ast.InsertStmt() | ast.MergeStmt():
            return "ROW EXCLUSIVE"
        case ast.SelectStmt():
            if node.lockingClause:
                return "ROW SHARE"
            return "ACCESS SHARE" if node.fromClause else None
        case ast.TruncateStmt() | ast.ClusterStmt() | ast.CreatePolicyStmt() | ast.AlterPolicyStmt() \
                | ast.RuleStmt():
            return "ACCESS EXCLUSIVE"
        case ast.LockStmt():
            return LOCK_MODES[node.mode - 1]  # AccessShareLock = 1 ... AccessExclusiveLock = 8
        case ast.VacuumStmt():
            full = any(option.defname == "full" for option in node.options or ())
            return "ACCESS EXCLUSIVE" if full else "SHARE UPDATE EXCLUSIVE"
        case ast.ReindexStmt():
            concurrent = any(p.defname == "concurrently" for p in node.params or ())
            # SHARE on the table, ACCESS EXCLUSIVE on each index it rebuilds: every query that
            # plans on the table opens its indexes, so reads wait too (measured: tests/lint_truth.py)
            return "SHARE UPDATE EXCLUSIVE" if concurrent else "ACCESS EXCLUSIVE"
        case ast.RefreshMatViewStmt():
            return "EXCLUSIVE" if node.concurrent else "ACCESS EXCLUSIVE"
        case ast.RenameStmt():
            if node.renameType == _OBJ.OBJECT_INDEX:
                return "SHARE UPDATE EXCLUSIVE"
            if node.renameType in (_OBJ.OBJECT_TABLE, _OBJ.OBJECT_COLUMN, _OBJ.OBJECT_TABCONSTRAINT,
                                   _OBJ.OBJECT_TRIGGER, _OBJ.OBJECT_VIEW, _OBJ.OBJECT_MATVIEW):
                return "ACCESS EXCLUSIVE"
            return None
        case ast.AlterObjectSchemaStmt():
            return "ACCESS EXCLUSIVE" if node.objectType == _OBJ.OBJECT_TABLE else None
        case ast.CommentStmt() | ast.CreateStatsStmt():
            return "SHARE UPDATE EXCLUSIVE" if node_table(node) else None
        case ast.ViewStmt():
            return "ACCESS EXCLUSIVE" if node.replace else None  # a new view is the script's own
        case ast.AlterSeqStmt():
            return "SHARE ROW EXCLUSIVE"  # on the sequence: nextval() of the app's INSERTs waits
        case ast.CreateStmt():
            return None  # a new table is the script's own; a REFERENCES' lock is in other_locks
    return None


# Where a foreign key's referenced table is not known (a DROP CONSTRAINT of a constraint
# named like a foreign key, whose ADD the lint has not seen).
REFERENCED_TABLE = "the table it references (its ADD was not seen by the lint)"


def other_locks(node: ast.Node, known: KnownSchema | None = None) -> dict[str, str]:
    """{table: mode} for each table the statement locks besides the one it names (foreign
    keys' other ends). `known`: what the lint knows of the schema before the statement (the
    constraint a DROP or VALIDATE names, the foreign keys of a dropped table)."""
    known = known or KnownSchema()
    found: dict[str, list[str]] = {}

    def add(table: str | None, mode: str) -> None:
        if table:
            found.setdefault(table, []).append(mode)

    match node:
        case ast.AlterTableStmt(relation=ast.RangeVar(relname=table)):
            for cmd in node.cmds or ():
                for other, mode in _alter_other_locks(table, cmd, known):
                    if other != table:
                        add(other, mode)
        case ast.CreateStmt(relation=ast.RangeVar(relname=table)):
            for constraint in _foreign_keys(node):
                if constraint.pktable.relname != table:
                    add(constraint.pktable.relname, "SHARE ROW EXCLUSIVE")
        case ast.DropStmt(removeType=_OBJ.OBJECT_TABLE):
            dropped = {name[-1].sval for name in node.objects or ()}
            for table in dropped:
                for fk in known.foreign_keys_from(table):
                    add(fk.references if fk.references not in dropped else None, "ACCESS EXCLUSIVE")
                if node.behavior == enums.DropBehavior.DROP_CASCADE:
                    for fk in known.foreign_keys_to(table):
                        add(fk.table if fk.table not in dropped else None, "ACCESS EXCLUSIVE")
        case ast.TruncateStmt() if node.behavior == enums.DropBehavior.DROP_CASCADE:
            truncated = {r.relname for r in node.relations or ()}
            for table in truncated:
                for fk in known.foreign_keys_to(table):
                    add(fk.table if fk.table not in truncated else None, "ACCESS EXCLUSIVE")
    return {table: strongest(modes) for table, modes in found.items()}


def _alter_other_locks(table: str, cmd: ast.AlterTableCmd, known: KnownSchema):
    if cmd.subtype == _AT.AT_AddConstraint and _is_foreign_key(cmd.def_):
        yield cmd.def_.pktable.relname, "SHARE ROW EXCLUSIVE"
    elif cmd.subtype == _AT.AT_AddColumn:
        for constraint in _foreign_keys(cmd.def_):
            yield constraint.pktable.relname, "SHARE ROW EXCLUSIVE"
    elif cmd.subtype == _AT.AT_ValidateConstraint and (fk := known.foreign_key(table, cmd.name)) and not fk.valid:
        yield fk.references, "ROW SHARE"  # a valid one is not checked again: no lock there
    elif cmd.subtype == _AT.AT_DropConstraint:
        if fk := known.foreign_key(table, cmd.name):
            yield fk.references, "ACCESS EXCLUSIVE"
        elif looks_like_foreign_key(cmd.name):
            yield REFERENCED_TABLE, "ACCESS EXCLUSIVE"
    elif cmd.subtype == _AT.AT_DropColumn:
        for fk in known.foreign_keys_from(table):
            if cmd.name in fk.columns:
                yield fk.references, "ACCESS EXCLUSIVE"


def alter_table_cmd_lock(cmd: ast.AlterTableCmd) -> str:
    if cmd.subtype == _AT.AT_AddConstraint and _is_foreign_key(cmd.def_):
        return "SHARE ROW EXCLUSIVE"  # on both tables
    if cmd.subtype == _AT.AT_DetachPartition and getattr(cmd.def_, "concurrent", False):
        return "SHARE UPDATE EXCLUSIVE"
    return _ALTER_TABLE_MODES.get(cmd.subtype, "ACCESS EXCLUSIVE")


def node_table(node: ast.Node) -> str | None:
    """The table (or index, view, sequence) a statement names first, as written."""
    match node:
        case ast.CommentStmt(objtype=_OBJ.OBJECT_COLUMN, object=[*names]) if len(names) > 1:
            return names[-2].sval
        case ast.CommentStmt(objtype=_OBJ.OBJECT_TABLE | _OBJ.OBJECT_INDEX, object=[*names]) if names:
            return names[-1].sval
        case ast.ViewStmt():
            return node.view.relname
        case ast.AlterSeqStmt():
            return node.sequence.relname
    relation = getattr(node, "relation", None)
    if isinstance(relation, ast.RangeVar):
        return relation.relname
    relations = getattr(node, "relations", None)
    if relations and isinstance(relations[0], ast.RangeVar):
        return relations[0].relname
    return None


def _is_foreign_key(constraint) -> bool:
    return isinstance(constraint, ast.Constraint) and constraint.contype == enums.ConstrType.CONSTR_FOREIGN


class _ForeignKeys(Visitor):
    def __init__(self):
        super().__init__()
        self.found: list[ast.Constraint] = []

    def visit_Constraint(self, ancestors, node):
        if _is_foreign_key(node) and node.pktable is not None:
            self.found.append(node)


def _foreign_keys(node: ast.Node) -> list[ast.Constraint]:
    visitor = _ForeignKeys()
    visitor(node)
    return visitor.found

