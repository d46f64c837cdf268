"""What the lint knows of the schema before a statement: column types and foreign keys.

Read from SQL the lint can see, never from a database: the migrations production already
applied (a batch imported from a migration tool: Batch.applied_before, or the batch's
expected schema), the batch's earlier steps, and the file's own earlier statements (CREATE
TABLE, ADD COLUMN, ALTER ... TYPE, ADD/DROP CONSTRAINT, RENAME, DROP TABLE). What is not
seen is unknown, and the rules say so rather than guess. Tables and columns are keyed by
name as written, without schema (like lock_taken.node_table).

    known = known_before(batch, step)      # production's schema and the batch's earlier steps
    known = KnownSchema.of(statements)     # or KnownSchema() and .apply(node) one by one
    known.column_type("users", "email")    # the TypeName node, or None
    known.foreign_key("orders", "orders_user_id_fkey")  # ForeignKey(table, references, columns)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from pglast import ast, enums

_AT = enums.AlterTableType
_OBJ = enums.ObjectType
_FOREIGN = enums.ConstrType.CONSTR_FOREIGN
_NAMEDATALEN = 63


@dataclass(frozen=True)
class ForeignKey:
    table: str                   # the referencing table
    references: str              # the referenced table
    columns: tuple[str, ...] = ()
    valid: bool = True           # False while added NOT VALID and not validated since


@dataclass
class KnownSchema:
    columns: dict[tuple[str, str], ast.TypeName] = field(default_factory=dict)
    foreign_keys: dict[tuple[str, str], ForeignKey] = field(default_factory=dict)

    @classmethod
    def of(cls, statements) -> KnownSchema:
        """The schema a list of gonogo.postgres.statements.Statement leaves (DO-block bodies included)."""
        return cls().after(statements)

    def after(self, statements) -> KnownSchema:
        """A copy of this schema with the statements applied."""
        known = self.copy()
        for statement in statements:
            for node in statement.nodes():
                known.apply(node)
        return known

    def copy(self) -> KnownSchema:
        return KnownSchema(dict(self.columns), dict(self.foreign_keys))

    def column_type(self, table: str | None, column: str) -> ast.TypeName | None:
        return self.columns.get((table, column))

    def foreign_key(self, table: str | None, name: str) -> ForeignKey | None:
        return self.foreign_keys.get((table, name))

    def foreign_keys_from(self, table: str) -> list[ForeignKey]:
        return [fk for (t, _), fk in self.foreign_keys.items() if t == table]

    def foreign_keys_to(self, table: str) -> list[ForeignKey]:
        return [fk for fk in self.foreign_keys.values() if fk.references == table and fk.table != table]

    def apply(self, node: ast.Node) -> None:
        """Take one statement into account."""
        match node:
            case ast.CreateStmt(relation=ast.RangeVar(relname=table)):
                self._drop_table(table)  # CREATE TABLE after a DROP in the same script
                for element in node.tableElts or ():
                    if isinstance(element, ast.ColumnDef):
                        self._add_column(table, element)
                    elif isinstance(element, ast.Constraint):
                        self._add_constraint(table, element, ())
            case ast.AlterTableStmt(relation=ast.RangeVar(relname=table)):
                for cmd in node.cmds or ():
                    self._alter(table, cmd)
            case ast.RenameStmt(relation=ast.RangeVar(relname=table)):
                self._rename(table, node)
            case ast.DropStmt(removeType=_OBJ.OBJECT_TABLE):
                for name in node.objects or ():
                    self._drop_table(name[-1].sval)

    def _alter(self, table: str, cmd: ast.AlterTableCmd) -> None:
        if cmd.subtype == _AT.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
            self._add_column(table, cmd.def_)
        elif cmd.subtype == _AT.AT_AlterColumnType and cmd.def_.typeName is not None:
            self.columns[(table, cmd.name)] = cmd.def_.typeName
        elif cmd.subtype == _AT.AT_DropColumn:
            self.columns.pop((table, cmd.name), None)
            for key, fk in list(self.foreign_keys.items()):
                if fk.table == table and cmd.name in fk.columns:
                    del self.foreign_keys[key]
        elif cmd.subtype == _AT.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint):
            self._add_constraint(table, cmd.def_, ())
        elif cmd.subtype == _AT.AT_DropConstraint:
            self.foreign_keys.pop((table, cmd.name), None)
        elif cmd.subtype == _AT.AT_ValidateConstraint and (fk := self.foreign_keys.get((table, cmd.name))):
            self.foreign_keys[(table, cmd.name)] = dataclasses.replace(fk, valid=True)

    def _add_column(self, table: str, column: ast.ColumnDef) -> None:
        if column.typeName is not None:
            self.columns[(table, column.colname)] = column.typeName
        for constraint in column.constraints or ():
            self._add_constraint(table, constraint, (column.colname,))

    def _add_constraint(self, table: str, constraint: ast.Constraint, columns: tuple[str, ...]) -> None:
        if constraint.contype != _FOREIGN or constraint.pktable is None:
            return
        columns = tuple(c.sval for c in constraint.fk_attrs or ()) or columns
        name = constraint.conname or default_fk_name(table, columns)
        self.foreign_keys[(table, name)] = ForeignKey(table, constraint.pktable.relname, columns,
                                                      valid=not constraint.skip_validation)

    def _rename(self, table: str, node: ast.RenameStmt) -> None:
        if node.renameType == _OBJ.OBJECT_COLUMN and (table, node.subname) in self.columns:
            self.columns[(table, node.newname)] = self.columns.pop((table, node.subname))
        elif node.renameType == _OBJ.OBJECT_TABCONSTRAINT and (table, node.subname) in self.foreign_keys:
            self.foreign_keys[(table, node.newname)] = self.foreign_keys.pop((table, node.subname))
        elif node.renameType == _OBJ.OBJECT_TABLE:
            new = node.newname
            self.columns = {((new if t == table else t), c): v for (t, c), v in self.columns.items()}
            self.foreign_keys = {
                ((new if t == table else t), n): dataclasses.replace(
                    fk, table=new if fk.table == table else fk.table,
                    references=new if fk.references == table else fk.references)
                for (t, n), fk in self.foreign_keys.items()}

    def _drop_table(self, table: str) -> None:
        self.columns = {k: v for k, v in self.columns.items() if k[0] != table}
        self.foreign_keys = {k: v for k, v in self.foreign_keys.items() if k[0] != table}


def known_before(batch, step) -> KnownSchema:
    """The schema before a step of a batch (gonogo.batch.Batch): production's (the batch's
    expected schema, else the tool's migrations production applied), then the steps before it
    that are enabled."""
    base = [batch.expected_schema] if batch.expected_schema else [m.up for m in batch.applied_before]
    earlier = [s.forward for s in batch.steps[:batch.steps.index(step)] if s.enabled]
    return KnownSchema.of(statement for sql_file in [*base, *earlier] for statement in sql_file.statements)


def default_fk_name(table: str, columns: tuple[str, ...]) -> str:
    """The name PostgreSQL gives an unnamed foreign key: <table>_<columns>_fkey (before any
    numeric suffix it adds when that name is taken)."""
    return f"{table}_{'_'.join(columns)}_fkey"[:_NAMEDATALEN]


def looks_like_foreign_key(name: str | None) -> bool:
    """A constraint name that ORMs and PostgreSQL give foreign keys: Prisma's and PostgreSQL's
    <table>_<column>_fkey, Rails' fk_rails_<hash>, Django's <table>_<column>_<hash>_fk_<table>_<column>."""
    name = (name or "").lower()
    return name.endswith("_fkey") or name.startswith("fk_") or "_fk_" in name or name.endswith("_fk")
