"""RENAME COLUMN / RENAME TO on a table the app uses."""

from __future__ import annotations

from pglast import ast, enums

from gonogo.lint.finding import ERROR, WARNING, Finding
from gonogo.lint.script import Script

_OBJ = enums.ObjectType

# (bad, fixed): the rename, and the expand step that replaces it (the new column beside the old)
FIX = ('ALTER TABLE "Recipe" RENAME COLUMN "category" TO "kind"',
       'ALTER TABLE "Recipe" ADD COLUMN IF NOT EXISTS "kind" text')


def rename(script: Script) -> list[Finding]:
    """ALTER TABLE ... RENAME [COLUMN] a TO b, or ALTER TABLE ... RENAME TO, on a table the
    batch did not create. The ACCESS EXCLUSIVE lock is brief; the break is not: every running
    app version that names the old column or table fails at once, and no deploy order avoids
    it (the app cannot switch in the same instant). An error, except in a rollback file, whose
    job is to rename back what its forward step renamed (a warning: the app version that uses
    the new name breaks then). A column the batch added, on a table it did not create, is new
    too: renaming it breaks nobody."""
    new_columns = _added_columns(script)
    found = []
    for unit in script.units:
        node = unit.node
        if not isinstance(node, ast.RenameStmt) or unit.table in script.new_tables:
            continue
        table = unit.table
        if node.renameType == _OBJ.OBJECT_COLUMN and node.relationType == _OBJ.OBJECT_TABLE:
            if (table, node.subname) in new_columns:
                continue
            what, old = "column", f'"{table}"."{node.subname}"'
            fix = (f'expand/contract: add the column "{node.newname}", keep both in step with a trigger '
                   f"that copies each write, backfill it in batches, switch the app to the new name, and "
                   f'drop "{node.subname}" in a disabled cleanup step once no app version reads it')
        elif node.renameType == _OBJ.OBJECT_TABLE:
            what, old = "table", f'"{table}"'
            fix = (f'rename it and leave a view under the old name in the same transaction (ALTER TABLE '
                   f'"{table}" RENAME TO "{node.newname}"; CREATE VIEW "{table}" AS SELECT * FROM '
                   f'"{node.newname}"; a simple view is updatable), switch the app, drop the view later; '
                   f'or create "{node.newname}" as a view over "{table}" first')
        else:
            continue
        if script.rollback:
            level, risk = WARNING, (f"the app version that uses the new name (\"{node.newname}\") fails as "
                                    f"soon as this rollback commits")
        else:
            level, risk = ERROR, (f"every running app version that names {old} fails as soon as it commits "
                                  f"(no deploy order avoids that)")
        found.append(script.finding(
            unit, rule="rename", problem="rename", level=level, lock="ACCESS EXCLUSIVE",
            message=f"renames the {what} {old} to \"{node.newname}\": {risk}; it takes ACCESS EXCLUSIVE "
                    f"on \"{table}\" (brief, but reads and writes queue behind it)",
            help=fix))
    return found


def _added_columns(script: Script) -> set[tuple[str, str]]:
    """(table, column) of the columns ALTER TABLE ... ADD COLUMN adds in the batch's earlier
    steps or this file (a column renamed to a new name is still the old column, in use)."""
    found = set()
    for statement in (*script.earlier, *script.statements):
        for node in statement.nodes():
            if isinstance(node, ast.AlterTableStmt):
                found |= {(node.relation.relname, cmd.def_.colname) for cmd in node.cmds or ()
                          if cmd.subtype == enums.AlterTableType.AT_AddColumn}
    return found
