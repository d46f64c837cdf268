"""Does ALTER COLUMN ... TYPE rewrite the table? PostgreSQL 15 keeps the table's file (and
its indexes) when the old type converts to the new one without changing a stored byte; it
still takes ACCESS EXCLUSIVE, for the catalog change only.

Measured on PostgreSQL 15 (pg_class.relfilenode of the table and its indexes before and
after, inside BEGIN ... ROLLBACK: tests/integration/test_lint_type_change.py), no rewrite for:
  varchar(n) -> text, varchar, varchar(m >= n);  text <-> varchar;  the same type again
  numeric(p,s) -> numeric(p2 >= p, s), numeric;  varbit(n) -> varbit(m >= n), varbit;
  cidr -> inet
  a USING that is only the column, or the column cast to the new type (Rails, Prisma write it)
A rewrite (table and every index) for anything else: int -> bigint, text -> varchar(n),
varchar -> a shorter varchar, numeric -> numeric(p,s), a smaller precision or another scale,
char(n) -> anything else, arrays (varchar(n)[] -> text[]), a USING expression; and bit(n) ->
varbit keeps the table but rebuilds the column's indexes (another operator class) under ACCESS
EXCLUSIVE, which makes the app wait as long: reported as a rewrite.

timestamp <-> timestamptz is decided by the session's TimeZone when the statement runs (no
rewrite only at UTC offset 0), and the indexes on the column are rebuilt either way (their
operator class changes), under ACCESS EXCLUSIVE: the lint cannot know the session's TimeZone,
so it says "depends" (a warning), never "no rewrite".
"""

from __future__ import annotations

from dataclasses import dataclass

from pglast import ast
from pglast.stream import RawStream

# new type -> the old types it comes from without a rewrite, in words (old type unknown)
_FREE_FROM = {
    "text": "varchar or varchar(n)",
    "varchar": "varchar(n) or text",
    "numeric": "numeric(p,s)",
    "varbit": "varbit(n)",
    "inet": "cidr",
}


@dataclass(frozen=True)
class TypeChange:
    column: str
    old: str | None      # the current type as the lint saw it written, None when unseen
    new: str
    rewrite: bool | None  # None: it depends on what `unless` says
    unless: str = ""      # when rewrite is None: what makes it a catalog-only change


def type_change(column: str, old: ast.TypeName | None, new: ast.TypeName, using=None) -> TypeChange:
    """The verdict on ALTER COLUMN column TYPE new [USING using], the column being `old`."""
    shown_old, shown_new = (_shown(old) if old is not None else None), _shown(new)

    def verdict(rewrite: bool | None, unless: str = "") -> TypeChange:
        return TypeChange(column, shown_old, shown_new, rewrite, unless)

    if using is not None and not _plain_using(using, column, new):
        return verdict(True)
    target = _key(new)
    if old is None:
        if target[0] in ("timestamp", "timestamptz") and not target[2]:
            other = "timestamp" if target[0] == "timestamptz" else "timestamptz"
            return verdict(None, f"the column is now {other} and the session's TimeZone is UTC (indexes on "
                                 f"the column are rebuilt either way)")
        if free := _free_from_unknown(target):
            return verdict(None, f"the column is now {free}")
        return verdict(True)
    source = _key(old)
    if source == target:
        return verdict(False)
    if source[2] or target[2]:  # arrays: only the same type again is known to be free
        return verdict(True)
    if {source[0], target[0]} == {"timestamp", "timestamptz"}:
        return verdict(None, "the session's TimeZone is UTC (indexes on the column are rebuilt either way)")
    return verdict(not _binary_coercible(source, target))


def _binary_coercible(old: tuple, new: tuple) -> bool:
    (a, a_mods, _), (b, b_mods, _) = old, new
    if a in ("varchar", "text") and b == "text":
        return True
    if a in ("varchar", "text") and b == "varchar":
        if not b_mods:
            return True
        return a == "varchar" and bool(a_mods) and b_mods[0] >= a_mods[0]
    if a == "numeric" and b == "numeric" and a_mods:
        if not b_mods:
            return True
        return b_mods[0] >= a_mods[0] and _scale(a_mods) == _scale(b_mods)
    if a == "varbit" and b == "varbit":
        return not b_mods or (bool(a_mods) and b_mods[0] >= a_mods[0])
    return a == "cidr" and b == "inet"


def _free_from_unknown(new: tuple) -> str:
    name, mods, array = new
    if array:
        return ""
    if name == "varchar" and mods:
        return f"varchar(n) with n <= {mods[0]}"
    if name == "numeric" and mods:
        return f"numeric(p,{_scale(mods)}) with p <= {mods[0]}"
    if name == "varbit" and mods:
        return f"varbit(n) with n <= {mods[0]}"
    return _FREE_FROM.get(name, "")


def _scale(mods: tuple[int, ...]) -> int:
    return mods[1] if len(mods) > 1 else 0  # numeric(p) is numeric(p,0)


def _key(type_name: ast.TypeName) -> tuple[str, tuple[int, ...], bool]:
    """(type, typmods, array?): varchar(20) -> ("varchar", (20,), False)."""
    name = type_name.names[-1].sval.lower()
    mods = tuple(m.val.ival for m in type_name.typmods or ()
                 if isinstance(m, ast.A_Const) and isinstance(m.val, ast.Integer))
    if name == "bpchar" and not mods:
        mods = (1,)  # char alone is char(1)
    return name, mods, bool(type_name.arrayBounds)


def _plain_using(expr, column: str, new: ast.TypeName) -> bool:
    """USING "col" or USING "col"::new: the conversion ALTER ... TYPE does without USING."""
    if isinstance(expr, ast.TypeCast):
        return _key(expr.typeName) == _key(new) and _plain_using(expr.arg, column, new)
    return (isinstance(expr, ast.ColumnRef) and isinstance(expr.fields[-1], ast.String)
            and expr.fields[-1].sval == column)


def _shown(type_name: ast.TypeName) -> str:
    return RawStream()(type_name)
