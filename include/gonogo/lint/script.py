"""A migration file as gonogo runs it, for the rules to read.

The statements are the file's as they run (SqlFile.as_run): statement by statement in
autocommit (like psql -f), each statement its own transaction except between a BEGIN and
COMMIT — which gonogo sends around the whole file when the file runs in one transaction —
and a DO block runs as one transaction unless its body COMMITs. A Script lists every statement the file runs,
those inside DO blocks included (Statement.nodes()), each with its own line, the
transaction it belongs to, and whether it sits in a DO-block loop that commits each round
(a batched backfill).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import pglast
from pglast import ast, enums
from pglast.stream import RawStream

from gonogo.lint.finding import Finding
from gonogo.lint.lock_taken import lock_taken, node_table
from gonogo.locks import strongest
from gonogo.statements import Statement, closes_transaction, created_tables, opens_transaction

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

    def __init__(self, statements, *, file: str, step_kind: str, step_enabled: bool, rollback: bool):
        self.statements: tuple[Statement, ...] = tuple(statements)
        self.file = file
        self.step_kind = step_kind
        self.step_enabled = step_enabled
        self.rollback = rollback

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
        """Tables the file creates itself: nobody else uses them yet."""
        return created_tables(list(self.statements))

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
        return Finding(rule=rule, source=source, level=level, file=self.file, line=unit.line,
                       statement=unit.summary(), lock=lock or "", message=message, help=help, problem=problem)


def _do_units(statement: Statement, transaction: int) -> list[Unit]:
    """The statements of a DO block (as Statement.nodes() lists them) with their lines, the
    transaction each runs in (a COMMIT in the body starts a new one) and whether a loop
    that commits each round wraps them."""
    body = next((item.arg.sval for item in statement.node.args or ()
                 if item.defname == "as"), "")
    at = statement.sql.find(body) if body else -1
    body_line = statement.line + (statement.sql[:at].count("\n") if at >= 0 else 0)
    events: list[tuple[str, int, bool, int]] = []  # (query, lineno, batched, commits so far)
    commits = 0

    def walk(value, batched: bool) -> None:
        nonlocal commits
        if isinstance(value, dict):
            for key, child in value.items():
                if key in _ENDS:
                    commits += 1
                elif key == "PLpgSQL_stmt_execsql":
                    query = child["sqlstmt"]["PLpgSQL_expr"]["query"]
                    events.append((query, child.get("lineno", 1), batched, commits))
                inside = batched or (key in _LOOPS and _contains(child, _ENDS))
                walk(child, inside)
        elif isinstance(value, list):
            for child in value:
                walk(child, batched)

    walk(pglast.parse_plpgsql(statement.sql), False)
    nodes = list(statement.nodes())
    units: list[Unit] = []
    for query, lineno, batched, ended in events:
        for _ in pglast.parse_sql(query):
            if not nodes:
                break
            units.append(Unit(statement, nodes.pop(0), body_line + lineno - 1, transaction + ended,
                              in_do=True, batched=batched))
    return units


def _contains(value, keys: set[str]) -> bool:
    if isinstance(value, dict):
        return any(k in keys or _contains(v, keys) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains(v, keys) for v in value)
    return False
