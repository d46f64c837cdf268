"""A migration file as gonogo runs it, for the rules to read.

The statements are the file's as they run (SqlFile.as_run): statement by statement in
autocommit (like psql -f), each statement its own transaction except between a BEGIN and
COMMIT — which gonogo sends around the whole file when the file runs in one transaction —
and a DO block runs as one transaction unless its body COMMITs. A Script lists every statement the file runs,
those inside DO blocks included (Statement.nodes()), each with its own line, the
transaction it belongs to, and whether it sits in a DO-block loop that commits each round
(a batched backfill). `known` is what the lint knows of the schema before the file (earlier
steps, migrations production applied: gonogo.lint.known); known_before(unit) adds the file's
own statements before the unit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import pglast
from pglast import ast, enums
from pglast.stream import RawStream

from gonogo.lint.finding import Finding
from gonogo.lint.known import KnownSchema
from gonogo.lint.lock_taken import REFERENCED_TABLE, lock_taken, node_table, other_locks
from gonogo.lint.type_change import TypeChange, type_change
from gonogo.postgres import locks
from gonogo.postgres.locks import strongest
from gonogo.postgres.statements import Statement, closes_transaction, created_objects, created_tables, opens_transaction

_LOOPS = {"PLpgSQL_stmt_loop", "PLpgSQL_stmt_while", "PLpgSQL_stmt_fori", "PLpgSQL_stmt_fors",
          "PLpgSQL_stmt_forc", "PLpgSQL_stmt_foreach_a", "PLpgSQL_stmt_dynfors"}
_ENDS = {"PLpgSQL_stmt_commit", "PLpgSQL_stmt_rollback"}


@dataclass(frozen=True)
class Unit:
    """One statement as it runs: a top-level one, or one inside a DO block."""

    statement: Statement  # the top-level statement (the DO block, for a statement inside one)
    node: ast.Node = field(repr=False)
    line: int
    transaction: int  # statements with the same number run in one transaction
    in_do: bool = False
    batched: bool = False  # inside a DO-block loop that COMMITs each round
    looped: bool = False   # inside a DO-block loop (committing each round or not)

    @property
    def lock(self) -> str | None:
        return lock_taken(self.node)

    @property
    def table(self) -> str | None:
        return node_table(self.node)

    def summary(self, width: int = 80) -> str:
        if not self.in_do:
            return self.statement.summary(width)
        text = " ".join(RawStream()(self.node).split())
        return text if len(text) <= width else text[: width - 1] + "…"


class Script:
    """What every rule reads: the file's statements, in the context of its step."""

    def __init__(self, statements, *, file: str, step_kind: str, step_enabled: bool, rollback: bool,
                 earlier=(), known: KnownSchema | None = None):
        self.statements: tuple[Statement, ...] = tuple(statements)
        # what the batch's earlier steps run in this rollout before this file (gonogo.lint.lint_step)
        self.earlier: tuple[Statement, ...] = tuple(earlier)
        self.file = file
        self.step_kind = step_kind
        self.step_enabled = step_enabled
        self.rollback = rollback
        self.known = known or KnownSchema()

    @property
    def one_transaction(self) -> bool:
        """The file runs in one transaction that gonogo opens around it (transaction mode)."""
        return any(s.implicit for s in self.statements)

    @property
    def disabled_cleanup(self) -> bool:
        """A cleanup step that stays disabled: it runs only with its own approval."""
        return self.step_kind == "cleanup" and not self.step_enabled

    @functools.cached_property
    def new_tables(self) -> set[str]:
        """Tables the file or the batch's earlier steps create: nobody else uses them yet."""
        return created_tables([*self.earlier, *self.statements], renamed=False)  # a renamed table keeps its rows

    def all_null(self, table: str, column: str, at: Unit) -> bool:
        """Whether the column is NULL in every row when `at` runs: added to an existing table
        with no default, by the batch's earlier steps or earlier in this file, and no UPDATE
        has set it since (a backfill would)."""
        null = False
        nodes = [n for s in self.earlier for n in s.nodes()]
        nodes += [u.node for u in self.units[: self.units.index(at)]]
        for node in nodes:
            if isinstance(node, ast.AlterTableStmt) and node.relation.relname == table:
                for cmd in node.cmds or ():
                    if cmd.subtype == enums.AlterTableType.AT_AddColumn and cmd.def_.colname == column:
                        null = not _has_default(cmd.def_) and table not in self.new_tables
            elif isinstance(node, ast.UpdateStmt) and node.relation.relname == table:
                if any(t.name == column for t in node.targetList or ()):
                    null = False
        return null

    @functools.cached_property
    def primary_keys(self) -> dict[str, tuple[str, ...]]:
        """{table: its primary key columns}, where the batch's earlier steps or this file declare
        one (CREATE TABLE ... PRIMARY KEY, ALTER TABLE ... ADD PRIMARY KEY)."""
        keys: dict[str, tuple[str, ...]] = {}
        for statement in (*self.earlier, *self.statements):
            for node in statement.nodes():
                for table, columns in _primary_keys(node):
                    keys[table] = columns
        return keys

    @functools.cached_property
    def units(self) -> tuple[Unit, ...]:
        units: list[Unit] = []
        transaction = 0
        explicit = False
        for statement in self.statements:
            node = statement.node
            if isinstance(node, ast.TransactionStmt):
                if opens_transaction(statement) and not explicit:
                    transaction, explicit = transaction + 1, True
                elif closes_transaction(statement):
                    explicit = False
                units.append(Unit(statement, node, statement.line, transaction))
                continue
            if not explicit:
                transaction += 1
            if isinstance(node, ast.DoStmt):
                inner = _do_units(statement, transaction)
                units.extend(inner)
                transaction = max([transaction, *(u.transaction for u in inner)])
            else:
                units.append(Unit(statement, node, statement.line, transaction))
        return tuple(units)

    @functools.cached_property
    def _known_before(self) -> dict[int, KnownSchema]:
        """The schema before each statement that reads it (by id of its unit)."""
        known = self.known.copy()
        before = {}
        for unit in self.units:
            if isinstance(unit.node, (ast.AlterTableStmt, ast.DropStmt, ast.TruncateStmt)):
                before[id(unit)] = known.copy()
            known.apply(unit.node)
        return before

    def known_before(self, unit: Unit) -> KnownSchema:
        return self._known_before.get(id(unit)) or self.known

    def other_locks(self, unit: Unit) -> dict[str, str]:
        """{table: mode} the unit locks besides its own table (lock_taken.other_locks)."""
        return other_locks(unit.node, self.known_before(unit))

    def type_changes(self, unit: Unit) -> list[TypeChange]:
        """The verdict on each ALTER COLUMN ... TYPE of the unit, the old type read from what
        the lint has seen before it."""
        if not isinstance(unit.node, ast.AlterTableStmt):
            return []
        known = self.known_before(unit)
        return [type_change(cmd.name, known.column_type(unit.table, cmd.name), cmd.def_.typeName,
                            cmd.def_.raw_default)
                for cmd in unit.node.cmds or ()
                if cmd.subtype == enums.AlterTableType.AT_AlterColumnType and cmd.def_.typeName is not None]

    def held_lock(self, unit: Unit) -> str | None:
        """The strongest lock on the unit's table that its transaction holds while it runs:
        its own, and those taken before it in the same transaction."""
        if unit.table is None:
            return unit.lock
        held = []
        for other in self.units:
            if other.transaction == unit.transaction and other.table == unit.table:
                held.append(other.lock)
            if other is unit:
                break
        return strongest(held)

    @functools.cached_property
    def index_tables(self) -> dict[str, str]:
        """{index: its table} for the indexes the batch's earlier steps or this file create."""
        return {o.name: o.table for o in created_objects([*self.earlier, *self.statements]) if o.kind == "index"}

    def dropped_indexes(self, unit: Unit) -> list[tuple[str, str | None]]:
        """(index, its table if known) for each index a DROP INDEX drops that the app may use:
        not one this file created before it, nor one on a table the batch creates."""
        node = unit.node
        if not (isinstance(node, ast.DropStmt) and node.removeType == enums.ObjectType.OBJECT_INDEX):
            return []
        before = self.units[: self.units.index(unit)]
        made_here = {u.node.idxname for u in before if isinstance(u.node, ast.IndexStmt)}
        names = [obj[-1].sval for obj in node.objects]
        return [(name, self.index_tables.get(name)) for name in names
                if name not in made_here and self.index_tables.get(name) not in self.new_tables]

    def commands(self, *subtypes: enums.AlterTableType):
        """(unit, command) for each ALTER TABLE subcommand of these kinds on a table the file
        did not create (a new table has no readers or writers to block)."""
        for unit in self.units:
            if isinstance(unit.node, ast.AlterTableStmt) and unit.table not in self.new_tables:
                for cmd in unit.node.cmds or ():
                    if cmd.subtype in subtypes:
                        yield unit, cmd

    def unit_at(self, line: int) -> Unit | None:
        """The top-level statement that holds a line of the file (for a tool that reports
        lines); a DO block is returned whole."""
        statement = None
        for candidate in self.statements:
            if candidate.line <= line and not candidate.implicit:
                statement = candidate
        if statement is None:
            return None
        for unit in self.units:
            if unit.statement is statement and not unit.in_do:
                return unit
        first = next((u for u in self.units if u.statement is statement), None)
        return Unit(statement, statement.node, statement.line, first.transaction if first else 0)

    def finding(self, unit: Unit, *, rule: str, level: str, lock: str | None, message: str,
                help: str, source: str = "gonogo", problem: str = "") -> Finding:
        """A finding on the unit; its message names the locks the unit takes on other tables."""
        others = self.other_locks(unit)
        if others:
            message += "; " + "; ".join(
                f"it also takes {mode} on {_quoted(table)} ({locks.blocks(mode)})" for table, mode in others.items())
        return Finding(rule=rule, source=source, level=level, file=self.file, line=unit.line,
                       statement=unit.summary(), lock=lock or "", message=message, help=help, problem=problem,
                       other_locks=tuple(others.items()))


def added_constraint(constraint: ast.Constraint, kind: str) -> str:
    """How an ADD of the constraint reads in a message: by its name, or, unnamed (as Rails and
    hand-written SQL often leave a foreign key), by its columns: ADD FOREIGN KEY ("a", "b")."""
    if constraint.conname:
        return f"ADD CONSTRAINT {constraint.conname} {kind}"
    columns = constraint.fk_attrs if kind == "FOREIGN KEY" else constraint.keys
    names = ", ".join(f'"{c.sval}"' for c in columns or ())
    return f"ADD {kind} ({names})" if names else f"ADD {kind}"


def _quoted(table: str) -> str:
    return table if table == REFERENCED_TABLE else f'"{table}"'


def _has_default(column: ast.ColumnDef) -> bool:
    return any(c.contype in (enums.ConstrType.CONSTR_DEFAULT, enums.ConstrType.CONSTR_IDENTITY,
                             enums.ConstrType.CONSTR_GENERATED)
               for c in column.constraints or () if isinstance(c, ast.Constraint))


def _primary_keys(node: ast.Node):
    """(table, columns) of the primary keys a CREATE TABLE or ALTER TABLE declares."""
    if isinstance(node, ast.CreateStmt):
        table = node.relation.relname
        for element in node.tableElts or ():
            if isinstance(element, ast.ColumnDef):
                if any(c.contype == enums.ConstrType.CONSTR_PRIMARY for c in element.constraints or ()):
                    yield table, (element.colname,)
            elif isinstance(element, ast.Constraint) and element.contype == enums.ConstrType.CONSTR_PRIMARY:
                yield table, tuple(k.sval for k in element.keys or ())
    elif isinstance(node, ast.AlterTableStmt):
        for cmd in node.cmds or ():
            constraint = cmd.def_
            if (cmd.subtype == enums.AlterTableType.AT_AddConstraint and isinstance(constraint, ast.Constraint)
                    and constraint.contype == enums.ConstrType.CONSTR_PRIMARY and constraint.keys):
                yield node.relation.relname, tuple(k.sval for k in constraint.keys)


def _do_units(statement: Statement, transaction: int) -> list[Unit]:
    """The statements of a DO block (as Statement.nodes() lists them) with their lines, the
    transaction each runs in (a COMMIT in the body starts a new one) and whether a loop
    that commits each round wraps them."""
    body = next((item.arg.sval for item in statement.node.args or ()
                 if item.defname == "as"), "")
    at = statement.sql.find(body) if body else -1
    body_line = statement.line + (statement.sql[:at].count("\n") if at >= 0 else 0)
    events: list[tuple[str, int, bool, bool, int]] = []  # (query, lineno, batched, looped, commits so far)
    commits = 0

    def walk(value, batched: bool, looped: bool) -> None:
        nonlocal commits
        if isinstance(value, dict):
            for key, child in value.items():
                if key in _ENDS:
                    commits += 1
                elif key == "PLpgSQL_stmt_execsql":
                    query = child["sqlstmt"]["PLpgSQL_expr"]["query"]
                    events.append((query, child.get("lineno", 1), batched, looped, commits))
                inside = batched or (key in _LOOPS and _contains(child, _ENDS))
                walk(child, inside, looped or key in _LOOPS)
        elif isinstance(value, list):
            for child in value:
                walk(child, batched, looped)

    walk(pglast.parse_plpgsql(statement.sql), False, False)
    nodes = list(statement.nodes())
    units: list[Unit] = []
    for query, lineno, batched, looped, ended in events:
        for _ in pglast.parse_sql(query):
            if not nodes:
                break
            units.append(Unit(statement, nodes.pop(0), body_line + lineno - 1, transaction + ended,
                              in_do=True, batched=batched, looped=looped))
    return units


def _contains(value, keys: set[str]) -> bool:
    if isinstance(value, dict):
        return any(k in keys or _contains(v, keys) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains(v, keys) for v in value)
    return False
