"""ADD CONSTRAINT ... FOREIGN KEY / CHECK without NOT VALID scans the table under its lock."""

from __future__ import annotations

from pglast import enums

from gonogo import locks
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
    return found
