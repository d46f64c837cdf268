"""What a statement from pg_stat_statements is, and where each of its $n stands, read from its
parse tree (pglast), never from its text: the verb, the tables it names, whether it writes, and
for every $n what a value must fit: the column (or expression over one table's row) it is
compared with, the column it is inserted into or set to, its place in LIMIT or OFFSET, or,
anywhere else, only the type the server infers. gonogo.authoring.discover samples the values on staging.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import pglast
from pglast import ast, enums
from pglast.stream import RawStream

# What a value for $n must be, by where $n stands.
EQUAL = "equal"        # col = $n, col <> $n: a value the column holds
LOWER = "lower"        # col > $n, col >= $n, BETWEEN $n AND ...: a bound below a value it holds
UPPER = "upper"        # col < $n, col <= $n, BETWEEN ... AND $n: a bound above a value it holds
LIKE = "like"          # col LIKE $n, col ILIKE $n: a pattern a value it holds matches
IN = "in"              # col IN ($1, $2): values it holds, one per place
ANY = "any"            # col = ANY ($n): an array of values it holds
INSERTED = "inserted"  # INSERT ... VALUES ($n): a value the column holds (a new one where unique)
SET = "set"            # UPDATE ... SET col = $n: a value the column holds
LIMIT = "limit"
OFFSET = "offset"
TYPED = "typed"        # anywhere else: a value of the type the server infers for $n
SAME = "same"          # $a = $b, what pg_stat_statements makes of Prisma's `AND 1=1`: one value for both

ROW_ROLES = (EQUAL, LOWER, UPPER, LIKE, IN, ANY, INSERTED, SET)  # values read from a sampled row
COMPARED = (EQUAL, LOWER, UPPER, LIKE, IN, ANY)  # a NULL there matches nothing

Relation = tuple[str | None, str]  # (schema or None, name), as the statement names it
ColumnsOf = Callable[[Relation], Sequence[str]]  # a table's columns in table order; () if unknown

VERBS = {ast.SelectStmt: "select", ast.InsertStmt: "insert", ast.UpdateStmt: "update", ast.DeleteStmt: "delete"}
_WRITES = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)
_BOUND_OF = {"=": EQUAL, "<>": EQUAL, "<": UPPER, "<=": UPPER, ">": LOWER, ">=": LOWER}
_MIRROR = {EQUAL: EQUAL, UPPER: LOWER, LOWER: UPPER}
_K = enums.A_Expr_Kind
_BETWEEN = (_K.AEXPR_BETWEEN, _K.AEXPR_NOT_BETWEEN, _K.AEXPR_BETWEEN_SYM, _K.AEXPR_NOT_BETWEEN_SYM)


@dataclass(frozen=True)
class Use:
    """Where one $n stands. row: the table reference (scope, alias) whose sampled row gives the
    value, so that every $n compared with one reference's columns comes from one row; relation:
    the table behind it; column (a plain column of that row) or expression (SQL over the row's
    alias, e.g. lower(b.title)): what the value is read as; position: its place in an IN list."""

    number: int
    role: str
    context: str  # "compared with b.author_id": for a reason, when no value is found
    row: tuple[int, str] | None = None
    relation: Relation | None = None
    column: str | None = None
    expression: str | None = None
    position: int = 0


@dataclass(frozen=True)
class Statement:
    verb: str
    writes: bool  # an INSERT, UPDATE, DELETE or MERGE anywhere in it (a data-modifying WITH too)
    relations: tuple[Relation, ...]  # every table or view it names, WITH names left out
    uses: dict[int, Use]  # $n -> where it stands
    spans: tuple[tuple[int, int, int], ...]  # (n, start, end) of every $n in the text, in order


def read_statement(text: str, columns_of: ColumnsOf | None = None) -> Statement:
    """The statement of `text`; ValueError if it does not parse or is not one SELECT, INSERT,
    UPDATE or DELETE. columns_of resolves an unqualified column among several tables and the
    columns of an INSERT without a column list; without it those $n are TYPED."""
    try:
        tree = pglast.parse_sql(text)
    except pglast.parser.ParseError as exc:
        raise ValueError(f"does not parse: {exc}") from None
    if len(tree) != 1:
        raise ValueError(f"{len(tree)} statements, not one")
    node = tree[0].stmt
    verb = VERBS.get(type(node))
    if verb is None or (isinstance(node, ast.SelectStmt) and node.intoClause):
        raise ValueError(f"a {type(node).__name__}, not a SELECT, INSERT, UPDATE or DELETE")
    reader = _Reader(columns_of)
    reader.visit(node)
    return Statement(verb=verb, writes=any(isinstance(n, _WRITES) for n in nodes(node)),
                     relations=tuple(reader.relations), uses=reader.uses, spans=_spans(text, node))


def nodes(node) -> Iterator[ast.Node]:
    """node and every node below it, depth first."""
    if isinstance(node, tuple):
        for item in node:
            yield from nodes(item)
    elif isinstance(node, ast.Node):
        yield node
        for name in node:
            yield from nodes(getattr(node, name))


def _spans(text: str, tree: ast.Node) -> tuple[tuple[int, int, int], ...]:
    spans = sorted((p.location, p.location + len(f"${p.number}"), p.number)
                   for p in nodes(tree) if isinstance(p, ast.ParamRef))
    for start, end, number in spans:
        if text[start:end] != f"${number}":
            raise ValueError(f"${number} is not where the parser puts it")
    return tuple((number, start, end) for start, end, number in spans)


def _param(node) -> int | None:
    """n of a bare $n, or of a cast one ($n::uuid, CAST($n::text AS "Status"))."""
    while isinstance(node, ast.TypeCast):
        node = node.arg
    return node.number if isinstance(node, ast.ParamRef) else None


def _sql(node) -> str:
    try:
        return RawStream()(node)
    except Exception:  # noqa: BLE001 - a node the printer does not know only loses its context text
        return type(node).__name__


@dataclass(frozen=True)
class _Source:
    """What a parameter is compared with: one table reference's column, or an expression over it."""

    row: tuple[int, str]
    relation: Relation
    column: str | None
    expression: str | None
    text: str


class _Reader:
    """One walk of a statement's tree, keeping the table references in scope at each level."""

    def __init__(self, columns_of: ColumnsOf | None):
        self.columns_of = columns_of
        self.scopes: list[tuple[int, dict[str, Relation]]] = []
        self.numbers = itertools.count()
        self.ctes: set[str] = set()
        self.relations: dict[Relation, None] = {}
        self.uses: dict[int, Use] = {}
        self.context: ast.Node | None = None  # the innermost node around a TYPED $n
        self.sampled = True  # False in HAVING: an aggregate has no value row by row

    # -- walking ---------------------------------------------------------------------------

    def visit(self, node) -> None:
        if isinstance(node, tuple):
            for item in node:
                self.visit(item)
        elif isinstance(node, ast.Node):
            getattr(self, f"_{type(node).__name__}", self._children)(node)

    def _children(self, node: ast.Node) -> None:
        outer = self.context
        if not isinstance(node, ast.TypeCast):
            self.context = node
        for name in node:
            self.visit(getattr(node, name))
        self.context = outer

    def use(self, use: Use) -> None:
        """Keep the first place that says what $n is; a TYPED one only until another does."""
        kept = self.uses.get(use.number)
        if kept is None or (kept.role == TYPED and use.role != TYPED):
            self.uses[use.number] = use

    @contextlib.contextmanager
    def scope(self, items):
        """The table references of a FROM list (or a target table) in scope while inside."""
        number = next(self.numbers)
        self.scopes.append((number, self._ranges(items)))
        try:
            yield number
        finally:
            self.scopes.pop()

    def _ranges(self, items) -> dict[str, Relation]:
        found: dict[str, Relation] = {}
        for item in items or ():
            if isinstance(item, ast.RangeVar) and not self._is_cte(item):
                found[item.alias.aliasname if item.alias else item.relname] = (item.schemaname, item.relname)
            elif isinstance(item, ast.JoinExpr):
                found |= self._ranges((item.larg, item.rarg))
        return found

    def _is_cte(self, node: ast.RangeVar) -> bool:
        return node.schemaname is None and node.relname in self.ctes

    # -- statements ------------------------------------------------------------------------

    def _WithClause(self, node: ast.WithClause) -> None:
        self.ctes |= {cte.ctename for cte in node.ctes}
        self.visit(tuple(cte.ctequery for cte in node.ctes))

    def _RangeVar(self, node: ast.RangeVar) -> None:
        if not self._is_cte(node):
            self.relations[(node.schemaname, node.relname)] = None

    def _SelectStmt(self, node: ast.SelectStmt) -> None:
        self.visit((node.withClause, node.larg, node.rarg))
        with self.scope(node.fromClause):
            self.visit((node.fromClause, node.targetList, node.whereClause, node.groupClause,
                        node.sortClause, node.windowClause, node.valuesLists, node.distinctClause))
            self.sampled = False
            self.visit(node.havingClause)
            self.sampled = True
            self._place(node.limitCount, LIMIT)
            self._place(node.limitOffset, OFFSET)

    def _InsertStmt(self, node: ast.InsertStmt) -> None:
        self.visit((node.withClause, node.relation))
        with self.scope((node.relation,)) as number:
            row, relation = self._target(number, node.relation)
            columns = [c.name for c in node.cols or ()] or list(self._columns(relation))
            select = node.selectStmt
            if isinstance(select, ast.SelectStmt) and select.valuesLists:
                for values in select.valuesLists:
                    for position, value in enumerate(values):
                        self._assign(value, columns[position] if position < len(columns) else None,
                                     INSERTED, row, relation)
            else:
                self.visit(select)
            if conflict := node.onConflictClause:
                self._assignments(conflict.targetList, row, relation)
                self.visit(conflict.whereClause)
            self.visit(node.returningClause)

    def _UpdateStmt(self, node: ast.UpdateStmt) -> None:
        self.visit((node.withClause, node.relation))
        with self.scope((node.relation, *(node.fromClause or ()))) as number:
            row, relation = self._target(number, node.relation)
            self._assignments(node.targetList, row, relation)
            self.visit((node.fromClause, node.whereClause, node.returningClause))

    def _DeleteStmt(self, node: ast.DeleteStmt) -> None:
        self.visit((node.withClause, node.relation))
        with self.scope((node.relation, *(node.usingClause or ()))):
            self.visit((node.usingClause, node.whereClause, node.returningClause))

    def _target(self, number: int, node: ast.RangeVar) -> tuple[tuple[int, str], Relation]:
        return (number, node.alias.aliasname if node.alias else node.relname), (node.schemaname, node.relname)

    def _assignments(self, targets, row, relation) -> None:
        for target in targets or ():
            self._assign(target.val, None if target.indirection else target.name, SET, row, relation)

    def _assign(self, value, column: str | None, role: str, row, relation) -> None:
        number = _param(value)
        if number is None or column is None:
            self.visit(value)
            return
        self.use(Use(number, role, f"{'inserted into' if role == INSERTED else 'set as'} {relation[1]}.{column}",
                     row=row, relation=relation, column=column))

    def _place(self, node, role: str) -> None:
        number = _param(node)
        if number is None:
            self.visit(node)
        else:
            self.use(Use(number, role, role.upper()))

    # -- expressions -----------------------------------------------------------------------

    def _ParamRef(self, node: ast.ParamRef) -> None:
        where = f"in {_sql(self.context)[:80]}" if self.context is not None else "alone"
        self.use(Use(node.number, TYPED, where))

    def _A_Expr(self, node: ast.A_Expr) -> None:
        if not (self.sampled and self._compared(node)):
            self._children(node)

    def _compared(self, node: ast.A_Expr) -> bool:
        """Record the $n of a comparison with one table reference's row; False if it is none."""
        op = node.name[-1].sval if node.name else ""
        if node.kind == _K.AEXPR_OP and op == "=" and _param(node.lexpr) is not None \
                and _param(node.rexpr) is not None:
            for side in (node.lexpr, node.rexpr):
                self.use(Use(_param(side), SAME, "equal to another parameter"))
            return True
        if node.kind == _K.AEXPR_OP and op in _BOUND_OF:
            role = _BOUND_OF[op]
            return (self._against(node.lexpr, (node.rexpr,), (role,))
                    or self._against(node.rexpr, (node.lexpr,), (_MIRROR[role],)))
        if node.kind in (_K.AEXPR_LIKE, _K.AEXPR_ILIKE):
            return self._against(node.lexpr, (node.rexpr,), (LIKE,))
        if node.kind == _K.AEXPR_OP_ANY:
            return self._against(node.lexpr, (node.rexpr,), (ANY,))
        if node.kind == _K.AEXPR_IN and isinstance(node.rexpr, tuple):
            return self._against(node.lexpr, node.rexpr, (IN,) * len(node.rexpr))
        if node.kind in _BETWEEN and isinstance(node.rexpr, tuple) and len(node.rexpr) == 2:
            return self._against(node.lexpr, node.rexpr, (LOWER, UPPER))
        return False

    def _against(self, side, params: tuple, roles: tuple[str, ...]) -> bool:
        if not any(_param(p) is not None for p in params) or (source := self._source(side)) is None:
            return False
        for position, (param, role) in enumerate(zip(params, roles)):
            number = _param(param)
            if number is None:
                self.visit(param)
                continue
            self.use(Use(number, role, f"compared with {source.text}", row=source.row, relation=source.relation,
                         column=source.column, expression=source.expression, position=position))
        return True

    def _source(self, expr) -> _Source | None:
        """expr as something a sampled row has a value for: its columns all of one table
        reference, and nothing in it that a single row cannot evaluate on its own."""
        refs = []
        for node in nodes(expr):
            if isinstance(node, (ast.ParamRef, ast.SubLink, ast.A_Star)):
                return None
            if isinstance(node, ast.FuncCall) and (node.over or node.agg_star or node.agg_distinct or node.agg_filter):
                return None
            if isinstance(node, ast.ColumnRef):
                refs.append(node)
        owners = {self._owner(ref) for ref in refs}
        if len(owners) != 1 or None in owners:
            return None
        (row, relation, column), = owners
        plain = isinstance(expr, ast.ColumnRef)
        return _Source(row, relation, column if plain else None, None if plain else _sql(expr), _sql(expr))

    def _owner(self, ref: ast.ColumnRef) -> tuple[tuple[int, str], Relation, str] | None:
        """(table reference, its relation, column name) a column reference resolves to,
        innermost scope first, as PostgreSQL resolves it."""
        if not all(isinstance(f, ast.String) for f in ref.fields):
            return None
        *qualifier, column = [f.sval for f in ref.fields]
        for number, ranges in reversed(self.scopes):
            if qualifier:
                if qualifier[-1] in ranges:
                    return (number, qualifier[-1]), ranges[qualifier[-1]], column
                continue
            owners = [alias for alias, relation in ranges.items() if self._has(relation, column, len(ranges))]
            if len(owners) == 1:
                return (number, owners[0]), ranges[owners[0]], column
            if owners:
                return None  # ambiguous
        return None

    def _has(self, relation: Relation, column: str, in_scope: int) -> bool:
        known = self._columns(relation)
        return column in known if known else in_scope == 1  # unknown columns: only a lone table can own it

    def _columns(self, relation: Relation) -> Sequence[str]:
        return self.columns_of(relation) if self.columns_of else ()
