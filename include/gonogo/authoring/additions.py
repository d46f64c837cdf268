"""What a batch's SQL adds, read from the parse tree: the foreign keys, unique keys and CHECKs
whose data preconditions can be measured before the batch runs, the extensions it needs, and
the privileges its statements need. DO-block bodies count (Statement.nodes()).
"""

from __future__ import annotations

from dataclasses import dataclass

from pglast import ast, enums
from pglast.stream import RawStream
from pglast.visitors import Visitor

from gonogo.postgres.statements import Statement

_Con = enums.ConstrType
_AT = enums.AlterTableType


@dataclass(frozen=True)
class ForeignKey:
    name: str
    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]  # empty: the referenced table's primary key

    def label(self) -> str:
        ref = ", ".join(self.ref_columns) or "primary key"
        return f"{self.table}.{', '.join(self.columns)} → {self.ref_table}.{ref}"


@dataclass(frozen=True)
class UniqueKey:
    name: str
    table: str
    columns: tuple[str, ...]
    nulls_distinct: bool = True

    def label(self) -> str:
        return f"{self.table} ({', '.join(self.columns)})"


@dataclass(frozen=True)
class Check:
    name: str
    table: str
    expression: str  # deparsed by pglast from the batch's own SQL
    columns: tuple[str, ...] = ()  # the columns the expression reads

    def label(self) -> str:
        return f"{self.table}: CHECK ({self.expression})"


@dataclass(frozen=True)
class Need:
    """A privilege a statement needs: kind is own | references | select | insert | update |
    delete | trigger | create_in_schema | create_extension."""

    kind: str
    object: str
    line: int


def _names(items) -> tuple[str, ...]:
    return tuple(item.sval for item in items or ())


def _constraints(statements: list[Statement]):
    """(table, Constraint node) for every constraint added by ALTER TABLE."""
    for statement in statements:
        for node in statement.nodes():
            if isinstance(node, ast.AlterTableStmt):
                for cmd in node.cmds or ():
                    if cmd.subtype == _AT.AT_AddConstraint:
                        yield node.relation.relname, cmd.def_


def foreign_keys(statements: list[Statement]) -> list[ForeignKey]:
    return list(dict.fromkeys(
        ForeignKey(con.conname or f"{table}_fkey", table, _names(con.fk_attrs), con.pktable.relname,
                   _names(con.pk_attrs))
        for table, con in _constraints(statements) if con.contype == _Con.CONSTR_FOREIGN))


def unique_keys(statements: list[Statement]) -> list[UniqueKey]:
    """Unique indexes on plain columns, and UNIQUE / PRIMARY KEY constraints that build their
    own index (one added USING INDEX is the unique index found already)."""
    keys = []
    for statement in statements:
        for node in statement.nodes():
            if isinstance(node, ast.IndexStmt) and node.unique and not node.whereClause:
                columns = tuple(p.name for p in node.indexParams if p.name)
                if len(columns) == len(node.indexParams):  # expression indexes are left out
                    keys.append(UniqueKey(node.idxname or f"{node.relation.relname}_key",
                                          node.relation.relname, columns, not node.nulls_not_distinct))
    for table, con in _constraints(statements):
        if con.contype in (_Con.CONSTR_UNIQUE, _Con.CONSTR_PRIMARY) and con.keys and not con.indexname:
            keys.append(UniqueKey(con.conname or f"{table}_key", table, _names(con.keys),
                                  con.contype == _Con.CONSTR_UNIQUE and not con.nulls_not_distinct))
    return list(dict.fromkeys(keys))


class _Columns(Visitor):
    def __init__(self):
        super().__init__()
        self.names: list[str] = []

    def visit_ColumnRef(self, ancestors, node):
        if node.fields and isinstance(node.fields[-1], ast.String):
            self.names.append(node.fields[-1].sval)


def _columns_of(expression) -> tuple[str, ...]:
    found = _Columns()
    found(expression)
    return tuple(dict.fromkeys(found.names))


def checks(statements: list[Statement]) -> list[Check]:
    return list(dict.fromkeys(
        Check(con.conname or f"{table}_check", table, RawStream()(con.raw_expr), _columns_of(con.raw_expr))
        for table, con in _constraints(statements) if con.contype == _Con.CONSTR_CHECK))


# Objects well-known extensions provide, by the name a migration uses them with.
EXTENSION_OBJECTS = {
    "pg_trgm": {"gin_trgm_ops", "gist_trgm_ops", "similarity", "word_similarity", "show_trgm"},
    "citext": {"citext"},
    "uuid-ossp": {"uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v3", "uuid_generate_v4",
                  "uuid_generate_v5", "uuid_nil", "uuid_ns_url"},
    "pgcrypto": {"digest", "hmac", "crypt", "gen_salt", "pgp_sym_encrypt", "pgp_sym_decrypt"},
    "hstore": {"hstore"},
    "unaccent": {"unaccent"},
    "btree_gin": {"gin_int4_ops", "gin_text_ops"},
    "btree_gist": {"gist_int4_ops", "gist_text_ops"},
    "postgis": {"geometry", "geography", "st_distance", "st_dwithin"},
}


class _Used(Visitor):
    """Names of operator classes, functions and types the statements use."""

    def __init__(self):
        super().__init__()
        self.names: dict[str, int] = {}
        self.line = 0

    def _add(self, items):
        if items:
            self.names.setdefault(items[-1].sval.lower(), self.line)

    def visit_IndexElem(self, ancestors, node):
        self._add(node.opclass)

    def visit_FuncCall(self, ancestors, node):
        self._add(node.funcname)

    def visit_TypeName(self, ancestors, node):
        self._add(node.names)


def extensions_needed(statements: list[Statement]) -> dict[str, str]:
    """{extension: why} for every extension the SQL creates or uses an object of."""
    needed: dict[str, str] = {}
    used = _Used()
    for statement in statements:
        used.line = statement.line
        for node in statement.nodes():
            if isinstance(node, ast.CreateExtensionStmt):
                needed.setdefault(node.extname, f"created at line {statement.line}")
            used(node)
    for extension, objects in EXTENSION_OBJECTS.items():
        for name, line in used.names.items():
            if name in objects:
                needed.setdefault(extension, f"{name} used at line {line}")
    return needed


def privileges_needed(statements: list[Statement]) -> list[Need]:
    """What the migration role must be allowed for each statement to run."""
    needs: list[Need] = []
    for statement in statements:
        line = statement.line
        for node in statement.nodes():
            if isinstance(node, (ast.AlterTableStmt, ast.IndexStmt)):
                needs.append(Need("own", node.relation.relname, line))
            if isinstance(node, ast.CreateTrigStmt):
                needs.append(Need("trigger", node.relation.relname, line))
            if isinstance(node, ast.UpdateStmt):
                needs.append(Need("update", node.relation.relname, line))
            if isinstance(node, ast.DeleteStmt):
                needs.append(Need("delete", node.relation.relname, line))
            if isinstance(node, ast.InsertStmt):
                needs.append(Need("insert", node.relation.relname, line))
            if isinstance(node, ast.CreateFunctionStmt):
                schema = node.funcname[0].sval if len(node.funcname) > 1 else "public"
                needs.append(Need("create_in_schema", schema, line))
            if isinstance(node, ast.CreateExtensionStmt):
                needs.append(Need("create_extension", node.extname, line))
        for table, con in _constraints([statement]):
            if con.contype == _Con.CONSTR_FOREIGN:
                needs.append(Need("references", con.pktable.relname, line))
    return list(dict.fromkeys(needs))
