"""What a migration script does, read with PostgreSQL's own parser (pglast).

A script is split into top-level statements, each classified; DO blocks are opened with
the PL/pgSQL parser so the statements inside them (the usual idempotency wrapper around
ALTER TABLE ... ADD CONSTRAINT) count as what the script does. Nothing here looks for
keywords in text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pglast
from pglast import ast, enums
from pglast.parser import scan
from pglast.visitors import Visitor

_CATALOG_SCHEMAS = {"pg_catalog", "information_schema"}


class SqlSyntaxError(ValueError):
    """A script PostgreSQL would refuse; the message gives the line."""


@dataclass(frozen=True)
class DbObject:
    """Something a script creates and that must exist (and be valid) afterwards."""

    kind: str  # index | constraint | trigger | function | extension
    name: str
    table: str | None = None

    def label(self) -> str:
        return f'{self.kind} "{self.name}"' + (f' on "{self.table}"' if self.table else "")


@dataclass(frozen=True)
class Statement:
    sql: str
    line: int  # 1-based line of the statement in its file
    node: ast.Node = field(repr=False, compare=False)
    inner: tuple[ast.Node, ...] = field(default=(), repr=False, compare=False)
    implicit: bool = False  # a BEGIN/COMMIT gonogo sends around a file run in one transaction

    @property
    def kind(self) -> str:
        return type(self.node).__name__

    @property
    def is_transaction_control(self) -> bool:
        return isinstance(self.node, ast.TransactionStmt)

    @property
    def concurrently(self) -> bool:
        return bool(getattr(self.node, "concurrent", False))

    def nodes(self) -> tuple[ast.Node, ...]:
        """The statement itself, or for a DO block the statements its body runs."""
        return self.inner if isinstance(self.node, ast.DoStmt) else (self.node,)

    def summary(self, width: int = 90) -> str:
        if self.implicit:
            return f"{self.sql} (" + ("the rehearsal undone" if self.sql == "ROLLBACK" else
                                      "the file runs in one transaction") + ")"
        text = " ".join(self.sql.split())
        return text if len(text) <= width else text[: width - 1] + "…"


_OPENS = (enums.TransactionStmtKind.TRANS_STMT_BEGIN, enums.TransactionStmtKind.TRANS_STMT_START)
# PREPARE TRANSACTION ends the session's transaction block as COMMIT does.
_CLOSES = (enums.TransactionStmtKind.TRANS_STMT_COMMIT, enums.TransactionStmtKind.TRANS_STMT_ROLLBACK,
           enums.TransactionStmtKind.TRANS_STMT_PREPARE)
# Cannot run inside a transaction block (CALL: the procedure may COMMIT).
_NO_TRANSACTION_BLOCK = (ast.CreatedbStmt, ast.DropdbStmt, ast.CreateTableSpaceStmt, ast.DropTableSpaceStmt,
                         ast.AlterSystemStmt, ast.CreateSubscriptionStmt, ast.DropSubscriptionStmt, ast.CallStmt)
_REINDEX_MANY = (enums.ReindexObjectType.REINDEX_OBJECT_SCHEMA, enums.ReindexObjectType.REINDEX_OBJECT_SYSTEM,
                 enums.ReindexObjectType.REINDEX_OBJECT_DATABASE)


def opens_transaction(statement: Statement) -> bool:
    return isinstance(statement.node, ast.TransactionStmt) and statement.node.kind in _OPENS


def closes_transaction(statement: Statement) -> bool:
    return isinstance(statement.node, ast.TransactionStmt) and statement.node.kind in _CLOSES


def needs_autocommit(statement: Statement) -> bool:
    """Whether a statement cannot run inside a transaction block, read from its parse tree."""
    node = statement.node
    if statement.concurrently or isinstance(node, _NO_TRANSACTION_BLOCK):
        return True
    if isinstance(node, ast.ReindexStmt):
        return node.kind in _REINDEX_MANY or any(p.defname == "concurrently" for p in node.params or ())
    if isinstance(node, ast.VacuumStmt):
        return bool(node.is_vacuumcmd)  # VACUUM; ANALYZE alone runs in a transaction
    if isinstance(node, ast.DoStmt):
        return _ends_transactions(pglast.parse_plpgsql(statement.sql))
    return False


def _ends_transactions(tree) -> bool:
    """Whether a PL/pgSQL parse tree holds a COMMIT or ROLLBACK."""
    if isinstance(tree, dict):
        return (any(key in tree for key in ("PLpgSQL_stmt_commit", "PLpgSQL_stmt_rollback"))
                or any(_ends_transactions(value) for value in tree.values()))
    if isinstance(tree, list):
        return any(_ends_transactions(value) for value in tree)
    return False


def parse_script(sql: str) -> list[Statement]:
    """Top-level statements of a script, with the statements inside DO blocks."""
    try:
        raw = pglast.parse_sql(sql)
    except pglast.parser.ParseError as exc:
        message, *where = exc.args
        line = sql.count("\n", 0, where[0]) + 1 if where else "?"
        raise SqlSyntaxError(f"line {line}: {message}") from None
    statements = []
    counted, line = 0, 1  # lines counted up to offset `counted`: a file of many statements is read once
    for item in raw:
        start = item.stmt_location or 0
        length = item.stmt_len or len(sql) - start
        text = sql[start: start + length].strip()
        # stmt_location points at the end of the previous statement: skip comments and blanks
        offset = start + (len(sql[start: start + length]) - len(sql[start: start + length].lstrip()))
        line += sql.count("\n", counted, offset)
        counted = offset
        try:
            inner = _do_block_statements(text) if isinstance(item.stmt, ast.DoStmt) else ()
            if _is_plpgsql_function(item.stmt):
                pglast.parse_plpgsql(text)  # PostgreSQL checks the body when it creates the function
        except pglast.parser.ParseError as exc:
            what = "DO block's" if isinstance(item.stmt, ast.DoStmt) else "function's"
            raise SqlSyntaxError(f"line {_body_error_line(item.stmt, text, line, exc.args[0])}: the {what} body "
                                 f"does not parse: {exc.args[0]}") from None
        statements.append(Statement(sql=_strip_leading_comments(text), line=line,
                                    node=item.stmt, inner=inner))
    return statements


def _is_plpgsql_function(node: ast.Node) -> bool:
    if not isinstance(node, ast.CreateFunctionStmt):
        return False
    options = {o.defname: o.arg for o in node.options or ()}
    language = options.get("language")
    return "as" in options and language is not None and language.sval.lower() == "plpgsql"


_NEAR = re.compile(r'at or near "(?P<token>[^"]+)"')


def _body_error_line(node: ast.Node, text: str, line: int, message: str) -> int:
    """The file's line of a PL/pgSQL syntax error. The PL/pgSQL parser gives no position, only
    the token it stopped at: the line of that token's first occurrence in the body's code (not
    in a comment or string), else the statement's own line."""
    options = node.args if isinstance(node, ast.DoStmt) else node.options
    body = next((o.arg.sval if isinstance(o.arg, ast.String) else o.arg[0].sval
                 for o in options or () if o.defname == "as"), "")
    near = _NEAR.search(message)
    at = text.find(body) if body else -1
    if near is None or at < 0:
        return line
    try:
        tokens = scan(body)
    except pglast.parser.ParseError:
        return line
    wanted = near["token"].lower()
    for token in tokens:
        if body[token.start: token.end + 1].lower() == wanted:
            return line + text[:at + token.start].count("\n")
    return line


def _strip_leading_comments(text: str) -> str:
    lines = text.splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines)


def _do_block_statements(do_sql: str) -> tuple[ast.Node, ...]:
    """The SQL statements a DO block runs (not its conditions or dynamic EXECUTEs)."""
    found: list[ast.Node] = []

    def walk(value):
        if isinstance(value, dict):
            execsql = value.get("PLpgSQL_stmt_execsql")
            if execsql:
                query = execsql["sqlstmt"]["PLpgSQL_expr"]["query"]
                found.extend(item.stmt for item in pglast.parse_sql(query))
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    walk(pglast.parse_plpgsql(do_sql))
    return tuple(found)


def created_objects(statements: list[Statement]) -> list[DbObject]:
    """Indexes, constraints, triggers, functions and extensions the statements create."""
    objects: list[DbObject] = []
    for statement in statements:
        for node in statement.nodes():
            objects.extend(_created_by(node))
    return list(dict.fromkeys(objects))


def _created_by(node: ast.Node) -> list[DbObject]:
    if isinstance(node, ast.IndexStmt) and node.idxname:
        return [DbObject("index", node.idxname, node.relation.relname)]
    if isinstance(node, ast.AlterTableStmt):
        out = []
        for cmd in node.cmds or ():
            if cmd.subtype in (enums.AlterTableType.AT_AddConstraint,
                               enums.AlterTableType.AT_AddIndexConstraint) and cmd.def_.conname:
                out.append(DbObject("constraint", cmd.def_.conname, node.relation.relname))
        return out
    if isinstance(node, ast.CreateTrigStmt):
        return [DbObject("trigger", node.trigname, node.relation.relname)]
    if isinstance(node, ast.CreateFunctionStmt):
        return [DbObject("function", node.funcname[-1].sval)]
    if isinstance(node, ast.CreateExtensionStmt):
        return [DbObject("extension", node.extname)]
    return []


def dropped_objects(statements: list[Statement]) -> list[DbObject]:
    """Constraints, indexes, triggers, functions and extensions the statements drop (rollback
    scripts): the counterpart of created_objects, kind for kind."""
    objects: list[DbObject] = []
    for statement in statements:
        for node in statement.nodes():
            if isinstance(node, ast.AlterTableStmt):
                for cmd in node.cmds or ():
                    if cmd.subtype == enums.AlterTableType.AT_DropConstraint:
                        objects.append(DbObject("constraint", cmd.name, node.relation.relname))
            elif isinstance(node, ast.DropStmt):
                kind = {enums.ObjectType.OBJECT_INDEX: "index",
                        enums.ObjectType.OBJECT_TRIGGER: "trigger",
                        enums.ObjectType.OBJECT_FUNCTION: "function",
                        enums.ObjectType.OBJECT_EXTENSION: "extension"}.get(node.removeType)
                if kind:
                    for obj in node.objects:
                        objects.append(DbObject(kind, _last_name(obj)))
    return objects


def _last_name(obj) -> str:
    if isinstance(obj, ast.ObjectWithArgs):
        return obj.objname[-1].sval
    if isinstance(obj, tuple):
        return obj[-1].sval
    return obj.sval


class _Relations(Visitor):
    """The relations one statement names; a WITH query's own name (UPDATE ... FROM ordered, where
    ordered is the statement's CTE) is not a table."""

    def __init__(self):
        super().__init__()
        self.names: set[str] = set()      # schema-qualified or not a CTE's name
        self.bare: set[str] = set()       # unqualified: a table, unless the statement's CTE
        self.ctes: set[str] = set()

    def visit_RangeVar(self, ancestors, node):
        if node.schemaname not in _CATALOG_SCHEMAS and not node.relname.startswith("pg_"):
            (self.names if node.schemaname else self.bare).add(node.relname)

    def visit_WithClause(self, ancestors, node):
        self.ctes |= {cte.ctename for cte in node.ctes or ()}

    @property
    def tables(self) -> set[str]:
        return self.names | (self.bare - self.ctes)


def referenced_tables(statements: list[Statement]) -> set[str]:
    """Every table the statements name (ALTER, CREATE INDEX, UPDATE, DROP TABLE, FK targets, joins)."""
    names: set[str] = set()
    for statement in statements:
        for node in statement.nodes():
            visitor = _Relations()
            visitor(node)
            names |= visitor.tables
            if isinstance(node, ast.DropStmt) and node.removeType == enums.ObjectType.OBJECT_TABLE:
                names.update(_last_name(obj) for obj in node.objects)
    return names - created_tables(statements)


def created_tables(statements: list[Statement], *, renamed: bool = True) -> set[str]:
    """Tables and views the statements create, or (renamed=True) rename to: nobody can use them
    under that name before. A renamed table still has its rows (renamed=False leaves it out)."""
    names = set()
    for statement in statements:
        for node in statement.nodes():
            if isinstance(node, ast.CreateStmt):
                names.add(node.relation.relname)
            elif isinstance(node, ast.CreateTableAsStmt):
                names.add(node.into.rel.relname)
            elif isinstance(node, ast.ViewStmt):
                names.add(node.view.relname)
            elif renamed and isinstance(node, ast.RenameStmt) and node.renameType == enums.ObjectType.OBJECT_TABLE:
                names.add(node.newname)
    return names


def added_columns(statements: list[Statement]) -> set[tuple[str, str]]:
    """(table, column) of every column the statements add: ALTER TABLE ... ADD COLUMN, the
    columns of a new table, and a column renamed to a new name."""
    found = set()
    for statement in statements:
        for node in statement.nodes():
            if isinstance(node, ast.CreateStmt):
                found |= {(node.relation.relname, e.colname) for e in node.tableElts or ()
                          if isinstance(e, ast.ColumnDef)}
            elif isinstance(node, ast.AlterTableStmt):
                found |= {(node.relation.relname, cmd.def_.colname) for cmd in node.cmds or ()
                          if cmd.subtype == enums.AlterTableType.AT_AddColumn}
            elif isinstance(node, ast.RenameStmt) and node.renameType == enums.ObjectType.OBJECT_COLUMN:
                found.add((node.relation.relname, node.newname))
    return found
