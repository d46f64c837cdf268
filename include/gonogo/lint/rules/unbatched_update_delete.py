"""An UPDATE or DELETE of a whole table in one transaction (and an upsert from a query, which
updates every row its query returns that is already there)."""

from __future__ import annotations

from pglast import ast, enums
from pglast.visitors import Skip, Visitor

from gonogo.lint.finding import WARNING, Finding
from gonogo.lint.script import Script, Unit
from gonogo.postgres.locks import blocks

_HELP = ("batch it by key ranges (WHERE id IN (SELECT id ... ORDER BY id LIMIT 1000)) in a "
         "DO-block loop that COMMITs after each batch, each batch its own transaction")

_UPSERT_HELP = ("run it in ranges of the SELECT's key (... WHERE src.id > last AND src.id <= last + 1000) in a "
                "DO-block loop that COMMITs after each batch, each batch its own transaction")

# (bad, fixed): the whole-table UPDATE, and the same work in key ranges, each its own transaction
FIX = ('UPDATE "Recipe" SET "category" = lower("category")',
       'DO $$\nDECLARE\n    last bigint := 0;\n    top bigint := (SELECT coalesce(max("id"), 0) FROM "Recipe");\n'
       'BEGIN\n    WHILE last < top LOOP\n'
       '        UPDATE "Recipe" SET "category" = lower("category") WHERE "id" > last AND "id" <= last + 1000;\n'
       '        last := last + 1000;\n        COMMIT;\n    END LOOP;\nEND $$')


def unbatched_update_delete(script: Script) -> list[Finding]:
    """UPDATE/DELETE whose WHERE does not bound the target's own key to a range or a small set,
    outside a DO-block loop that commits each batch, on a table the batch did not create.

    The target's own key, read statically: its primary key columns where the batch's earlier
    steps or this file declare it (CREATE TABLE ... PRIMARY KEY, ADD PRIMARY KEY), else a
    column named id, <table>_id or <table>Id (Rails, Django, Prisma); ctid always. Bounded:
    key = value, key IN (values), key = ANY(array), key IN (SELECT ... LIMIT n), key BETWEEN
    a AND b, key >= a AND key < b (both ends), where a value names no column of the target
    or of a joined table (in a DO block an unqualified name is a PL/pgSQL variable). An AND
    is bounded if one side is, an OR if every side is.

    Certain to write every row (problem "whole-table-write", the message says "every row"): no
    WHERE, WHERE true, key <> v, c IS NULL on a column added with no default earlier in the
    file or batch and not written since, and a bounded statement in a DO-block loop with no
    COMMIT (every round runs in the block's one transaction). Any other WHERE (status = 'x',
    or one that only joins the target to another table: every row with a match) may touch
    every row (problem "unbounded-write"): said so, naming the key it does not bound. The dry
    run measures which it was (gonogo.postgres.locktrace: rows written ÷ rows in the table)."""
    found = []
    for unit in script.units:
        node = unit.node
        if isinstance(node, ast.InsertStmt) and not unit.batched and unit.table not in script.new_tables:
            found += _upsert(script, unit)
        if not isinstance(node, (ast.UpdateStmt, ast.DeleteStmt)) or unit.batched:
            continue
        table = unit.table
        if table in script.new_tables:
            continue
        where = _Where(script, unit)
        verb = "UPDATE" if isinstance(node, ast.UpdateStmt) else "DELETE"
        keys = " or ".join(f'"{k}"' for k in where.keys if k != "ctid")
        problem = "whole-table-write"
        if where.bounded(node.whereClause):
            if not unit.looped:
                continue
            reason = " (each round bounded, but the loop has no COMMIT: every round runs in the DO block's one transaction)"
        else:
            reason = where.certain(node.whereClause)
        if reason is not None and not reason.startswith(" that has a match"):
            message = (f'{verb} of every row of "{table}"{reason} in one transaction: each row stays locked until '
                       f"it commits (the app's writes to those rows wait) and the long transaction holds back VACUUM")
        else:
            problem = "unbounded-write"
            bound = f"{reason}: its WHERE does not bound" if reason else " in one transaction: its WHERE does not bound"
            message = (f'{verb} may touch every row of "{table}"{bound} '
                       f'"{table}"\'s key ({keys}) to a range; each row it writes stays locked until it commits '
                       f"and the long transaction holds back VACUUM")
        if where.joined_tables:
            read = ", ".join(f'"{t}"' for t in where.joined_tables)
            message += f"; it only reads {read} (ACCESS SHARE: it blocks {blocks('ACCESS SHARE')})"
        found.append(script.finding(unit, rule="unbatched-update-delete", problem=problem,
                                    level=WARNING, lock="ROW EXCLUSIVE", message=message, help=_HELP))
    return found


def _upsert(script: Script, unit: Unit) -> list[Finding]:
    """INSERT ... SELECT ... FROM ... ON CONFLICT ... DO UPDATE (a recomputed summary table): every
    row the query returns that is already in the table is updated, in one transaction. From
    VALUES it writes the rows it lists; DO NOTHING updates none."""
    node, table = unit.node, unit.table
    conflict, select = node.onConflictClause, node.selectStmt
    if (conflict is None or conflict.action != enums.OnConflictAction.ONCONFLICT_UPDATE
            or not isinstance(select, ast.SelectStmt) or not select.fromClause):
        return []
    read = sorted({r.relname for r in select.fromClause if isinstance(r, ast.RangeVar)} - {table})
    reads = "; it only reads " + ", ".join(f'"{t}"' for t in read) if read else ""
    message = (f'INSERT ... ON CONFLICT DO UPDATE may update every row of "{table}": each row its SELECT returns '
               f"that is already there is updated, in one transaction; each row it updates stays locked until it "
               f"commits and the long transaction holds back VACUUM{reads}")
    return [script.finding(unit, rule="unbatched-update-delete", problem="unbounded-write", level=WARNING,
                           lock="ROW EXCLUSIVE", message=message, help=_UPSERT_HELP)]


class _Refs(Visitor):
    """Column references (as name lists), not looking inside subqueries."""

    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, ...]] = []

    def visit_ColumnRef(self, ancestors, node):
        self.refs.append(tuple(f.sval for f in node.fields if isinstance(f, ast.String)))

    def visit_SubLink(self, ancestors, node):
        return Skip  # a subquery is one value; its own columns are its own


def _refs(expr) -> list[tuple[str, ...]]:
    if isinstance(expr, ast.SubLink):
        return []
    visitor = _Refs()
    visitor(expr)
    return visitor.refs


class _Where:
    """Reads a WHERE against the statement's target (name, alias, key) and joined tables."""

    def __init__(self, script: Script, unit: Unit):
        node = unit.node
        self.script, self.unit, self.table = script, unit, unit.table
        relation = node.relation
        self.names = {relation.relname, relation.alias.aliasname if relation.alias else relation.relname}
        declared = script.primary_keys.get(self.table)
        self.keys = (*(declared or ("id", f"{self.table}_id", f"{self.table}Id")), "ctid")
        joined = getattr(node, "fromClause", None) or getattr(node, "usingClause", None) or ()
        self.joined: set[str] = set()  # names and aliases of the joined tables
        self.joined_tables: list[str] = []  # as the message names them
        for item in joined:
            if isinstance(item, ast.RangeVar):
                self.joined |= {item.relname, item.alias.aliasname if item.alias else item.relname}
                self.joined_tables.append(item.relname)
            elif getattr(item, "alias", None) is not None:
                self.joined.add(item.alias.aliasname)
                self.joined_tables.append(item.alias.aliasname)

    # -- what a column reference is
    def _own(self, ref: tuple[str, ...]) -> bool:
        if len(ref) >= 2:
            return ref[-2] in self.names
        return not self.joined or ref[-1] in self.keys  # unqualified: the target's, unless joined

    def _key(self, expr) -> str | None:
        if isinstance(expr, ast.ColumnRef):
            ref = tuple(f.sval for f in expr.fields if isinstance(f, ast.String))
            if ref and self._own(ref) and ref[-1] in self.keys:
                return ref[-1]
        return None

    def _value(self, expr) -> bool:
        """A value: names no column of the target or of a joined table (a subquery is one value)."""
        for ref in _refs(expr):
            if len(ref) >= 2 and (ref[-2] in self.names or ref[-2] in self.joined):
                return False
            if len(ref) == 1 and not self.unit.in_do:
                return False  # outside PL/pgSQL an unqualified name is a column
        return True

    # -- bounded: the key to a range or a small set
    def bounded(self, expr) -> bool:
        if expr is None:
            return False
        if isinstance(expr, ast.BoolExpr):
            if expr.boolop == enums.BoolExprType.AND_EXPR:
                return any(self.bounded(a) for a in expr.args) or self._range(expr.args)
            if expr.boolop == enums.BoolExprType.OR_EXPR:
                return all(self.bounded(a) for a in expr.args)
            return False
        if isinstance(expr, ast.A_Expr):
            op = expr.name[-1].sval if expr.name else ""
            key = self._key(expr.lexpr) or self._key(expr.rexpr)
            other = expr.rexpr if self._key(expr.lexpr) else expr.lexpr
            if key is None:
                return False
            kind = enums.A_Expr_Kind
            if expr.kind == kind.AEXPR_OP and op == "=":
                return self._value(other)
            if expr.kind == kind.AEXPR_OP_ANY and op == "=":
                return self._value(other)
            if expr.kind == kind.AEXPR_IN and op == "=":
                return all(self._value(v) for v in expr.rexpr)
            if expr.kind == kind.AEXPR_BETWEEN:
                return all(self._value(v) for v in expr.rexpr)
            return False
        if isinstance(expr, ast.SubLink) and expr.subLinkType == enums.SubLinkType.ANY_SUBLINK:
            key = self._key(expr.testexpr)
            select = expr.subselect
            return key is not None and isinstance(select, ast.SelectStmt) and select.limitCount is not None
        return False

    def _range(self, args) -> bool:
        """key >= a AND key < b: both ends on one key."""
        ends: dict[str, set[str]] = {}
        for expr in args:
            if not (isinstance(expr, ast.A_Expr) and expr.kind == enums.A_Expr_Kind.AEXPR_OP):
                continue
            op = expr.name[-1].sval
            if self._key(expr.lexpr) and self._value(expr.rexpr):
                key, side = self._key(expr.lexpr), {">": "low", ">=": "low", "<": "high", "<=": "high"}.get(op)
            elif self._key(expr.rexpr) and self._value(expr.lexpr):
                key, side = self._key(expr.rexpr), {">": "high", ">=": "high", "<": "low", "<=": "low"}.get(op)
            else:
                continue
            if side:
                ends.setdefault(key, set()).add(side)
        return any(len(sides) == 2 for sides in ends.values())

    # -- certain: every row (or every joined row)
    def certain(self, expr) -> str | None:
        """Why the statement writes every row, as words after the table name ("" for no WHERE),
        or None when its WHERE may restrict it."""
        if expr is None:
            return ""
        parts = expr.args if isinstance(expr, ast.BoolExpr) and expr.boolop == enums.BoolExprType.AND_EXPR \
            else (expr,)
        reasons = [self._everything(p) for p in parts]
        if any(r is None for r in reasons):
            return None
        joins = [r for r in reasons if r == "join"]
        if joins:
            return " that has a match in " + ", ".join(f'"{t}"' for t in self.joined_tables) + \
                " (its WHERE only joins)"
        said = [r for r in reasons if r]
        return f" ({'; '.join(dict.fromkeys(said))})" if said else ""

    def _everything(self, expr) -> str | None:
        if isinstance(expr, ast.A_Const) and isinstance(expr.val, ast.Boolean) and expr.val.boolval:
            return "WHERE true"
        if isinstance(expr, ast.A_Expr) and expr.kind == enums.A_Expr_Kind.AEXPR_OP:
            op = expr.name[-1].sval
            key = self._key(expr.lexpr) or self._key(expr.rexpr)
            if op in ("<>", "!=") and key:
                return f'but one: its WHERE is "{key}" <> a value'

            if op == "=" and isinstance(expr.lexpr, ast.A_Const) and isinstance(expr.rexpr, ast.A_Const) \
                    and expr.lexpr.val == expr.rexpr.val:
                return "WHERE a constant that is true"
            if op == "=" and isinstance(expr.lexpr, ast.ColumnRef) and isinstance(expr.rexpr, ast.ColumnRef):
                sides = [tuple(f.sval for f in e.fields if isinstance(f, ast.String)) for e in (expr.lexpr, expr.rexpr)]
                qualifiers = {s[-2] if len(s) >= 2 else None for s in sides}
                if qualifiers & self.names and qualifiers & self.joined:
                    return "join"
        if isinstance(expr, ast.NullTest) and expr.nulltesttype == enums.NullTestType.IS_NULL \
                and isinstance(expr.arg, ast.ColumnRef):
            ref = tuple(f.sval for f in expr.arg.fields if isinstance(f, ast.String))
            if self._own(ref) and self.script.all_null(self.table, ref[-1], self.unit):
                return f'"{ref[-1]}" was just added with no default: NULL in every row'
        return None
