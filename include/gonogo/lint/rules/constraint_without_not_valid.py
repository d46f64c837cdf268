"""ADD CONSTRAINT ... FOREIGN KEY / CHECK without NOT VALID scans the table under its lock."""

from __future__ import annotations

from pglast import ast, enums

from gonogo.postgres import locks
from gonogo.lint.finding import ERROR, Finding
from gonogo.lint.lock_taken import alter_table_cmd_lock
from gonogo.lint.script import Script, added_constraint

_CT = enums.ConstrType
_KINDS = {_CT.CONSTR_FOREIGN: "FOREIGN KEY", _CT.CONSTR_CHECK: "CHECK"}

FIX = ('ALTER TABLE "RecipeItem" ADD CONSTRAINT recipe_item_recipe_fk FOREIGN KEY ("recipeId") REFERENCES "Recipe" ("id")',
       'ALTER TABLE "RecipeItem" ADD CONSTRAINT recipe_item_recipe_fk FOREIGN KEY ("recipeId") REFERENCES "Recipe" ("id") '
       'NOT VALID;\n'
       'ALTER TABLE "RecipeItem" VALIDATE CONSTRAINT recipe_item_recipe_fk')


def constraint_without_not_valid(script: Script) -> list[Finding]:
    """A FOREIGN KEY (SHARE ROW EXCLUSIVE, on both tables) or CHECK (ACCESS EXCLUSIVE) added
    without NOT VALID checks every existing row while its lock is held. VALIDATE takes SHARE
    UPDATE EXCLUSIVE (and, for a foreign key, ROW SHARE on the referenced table)."""
    found = []
    for unit, cmd in script.commands(enums.AlterTableType.AT_AddConstraint):
        kind = _KINDS.get(cmd.def_.contype)
        if kind and not cmd.def_.skip_validation:
            lock = alter_table_cmd_lock(cmd)
            found.append(script.finding(
                unit, rule="constraint-without-not-valid", problem="validation-scan", level=ERROR, lock=lock,
                message=(f'{added_constraint(cmd.def_, kind)} on "{unit.table}" checks every '
                         f"row while holding {lock}: {locks.blocks(lock)} for the whole scan"),
                help=("ADD it NOT VALID (catalog-only; new writes are checked at once), then VALIDATE "
                      "CONSTRAINT in its own transaction (SHARE UPDATE EXCLUSIVE"
                      + (", and ROW SHARE on the referenced table" if kind == "FOREIGN KEY" else "")
                      + ": reads and writes go on)")))
    # a CHECK written on the new column itself cannot be NOT VALID: PostgreSQL checks every row;
    # a REFERENCES on it too, but only when a DEFAULT fills the rows (all NULL: nothing to check,
    # measured: 0 rows read)
    for unit, cmd in script.commands(enums.AlterTableType.AT_AddColumn):
        column = cmd.def_
        kinds = {getattr(c, "contype", None) for c in getattr(column, "constraints", None) or ()}
        filled = any(getattr(c, "contype", None) == _CT.CONSTR_DEFAULT and not _null(c.raw_expr)
                     for c in column.constraints or ())
        if _CT.CONSTR_FOREIGN in kinds and filled:
            found.append(script.finding(
                unit, rule="constraint-without-not-valid", problem="validation-scan", level=ERROR,
                lock="ACCESS EXCLUSIVE",
                message=(f'ADD COLUMN "{column.colname}" with a DEFAULT and a REFERENCES on "{unit.table}" checks '
                         f"every row against the referenced table while holding ACCESS EXCLUSIVE: "
                         f"{locks.blocks('ACCESS EXCLUSIVE')} for the whole scan"),
                help=("add the column without the REFERENCES, then ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID and "
                      "VALIDATE CONSTRAINT in its own transaction (SHARE UPDATE EXCLUSIVE, ROW SHARE on the "
                      "referenced table: reads and writes go on)")))
        if _CT.CONSTR_CHECK in kinds:
            found.append(script.finding(
                unit, rule="constraint-without-not-valid", problem="validation-scan", level=ERROR,
                lock="ACCESS EXCLUSIVE",
                message=(f'ADD COLUMN "{column.colname}" with a CHECK on "{unit.table}" checks every row while '
                         f"holding ACCESS EXCLUSIVE: {locks.blocks('ACCESS EXCLUSIVE')} for the whole scan"),
                help=(f'add the column without the CHECK, then ADD CONSTRAINT ... CHECK (...) NOT VALID and '
                      f"VALIDATE CONSTRAINT in its own transaction (SHARE UPDATE EXCLUSIVE: reads and writes go on)")))
    return found


def _null(expr) -> bool:
    return expr is None or (isinstance(expr, ast.A_Const) and expr.isnull)
