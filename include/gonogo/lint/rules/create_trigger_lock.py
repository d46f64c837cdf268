"""CREATE TRIGGER locks out the table's writers while it runs."""

from __future__ import annotations

from pglast import ast

from gonogo.lint.finding import WARNING, Finding
from gonogo.lint.script import Script

# The statement stays (a trigger has no online variant); the fix is that nothing slow shares its
# transaction, so its SHARE ROW EXCLUSIVE is held only while it runs: still a warning, not an error.
FIX = ('BEGIN;\n'
       'CREATE TRIGGER recipe_touch BEFORE UPDATE ON "Recipe" FOR EACH ROW EXECUTE FUNCTION recipe_touch();\n'
       'UPDATE "Recipe" SET "category" = lower("category") WHERE "id" <= 1000;\n'
       'COMMIT',
       'CREATE TRIGGER recipe_touch BEFORE UPDATE ON "Recipe" FOR EACH ROW EXECUTE FUNCTION recipe_touch()')


def create_trigger_lock(script: Script) -> list[Finding]:
    """CREATE [OR REPLACE] TRIGGER takes SHARE ROW EXCLUSIVE on its table. Brief, but it
    queues behind every running transaction on the table, and writes queue behind it."""
    found = []
    for unit in script.units:
        if isinstance(unit.node, ast.CreateTrigStmt) and unit.table not in script.new_tables:
            found.append(script.finding(
                unit, rule="create-trigger-lock", level=WARNING, lock="SHARE ROW EXCLUSIVE",
                message=(f'CREATE TRIGGER takes SHARE ROW EXCLUSIVE on "{unit.table}": the app\'s writes '
                         f"to it wait while the statement waits for running transactions and runs"),
                help=("gonogo's lock_timeout bounds the wait; keep the statement alone (its own "
                      "transaction, nothing slow after it before COMMIT)")))
    return found
