"""An UPDATE or DELETE of a whole table in one transaction."""

from __future__ import annotations

from pglast import ast
from pglast.visitors import Visitor

from gonogo.lint.finding import WARNING, Finding
from gonogo.lint.script import Script


def unbatched_update_delete(script: Script) -> list[Finding]:
    """UPDATE/DELETE with no WHERE, or a WHERE that names none of the table's columns (WHERE
    true), outside a DO-block loop that commits each batch."""
    found = []
    for unit in script.units:
        node = unit.node
        if not isinstance(node, (ast.UpdateStmt, ast.DeleteStmt)) or unit.batched:
            continue
        if unit.table in script.new_tables or _restricted(node):
            continue
        verb = "UPDATE" if isinstance(node, ast.UpdateStmt) else "DELETE"
        found.append(script.finding(
            unit, rule="unbatched-update-delete", problem="whole-table-write", level=WARNING, lock="ROW EXCLUSIVE",
            message=(f'{verb} of every row of "{unit.table}" in one transaction: each row stays locked '
                     f"until it commits (the app's writes to those rows wait) and the long transaction "
                     f"holds back VACUUM"),
            help=("batch it by key ranges (WHERE id IN (SELECT id ... ORDER BY id LIMIT 1000)) in a "
                  "DO-block loop that COMMITs after each batch, each batch its own transaction")))
    return found


class _Columns(Visitor):
    def __init__(self):
        super().__init__()
        self.qualifiers: list[str | None] = []

    def visit_ColumnRef(self, ancestors, node):
        names = [f.sval for f in node.fields if isinstance(f, ast.String)]
        self.qualifiers.append(names[-2] if len(names) >= 2 else None)


def _restricted(node) -> bool:
    """The WHERE names a column of the target table (unqualified, or by its name or alias)."""
    if node.whereClause is None:
        return False
    columns = _Columns()
    columns(node.whereClause)
    relation = node.relation
    own = {relation.relname, relation.alias.aliasname if relation.alias else relation.relname}
    return any(q is None or q in own for q in columns.qualifiers)
