"""ADD CONSTRAINT ... NOT VALID and its VALIDATE in one transaction."""

from __future__ import annotations

from pglast import enums

from gonogo.postgres import locks
from gonogo.lint.finding import ERROR, Finding
from gonogo.lint.lock_taken import alter_table_cmd_lock
from gonogo.lint.script import Script

_AT = enums.AlterTableType

FIX = ('BEGIN;\n'
       'ALTER TABLE "Recipe" ADD CONSTRAINT recipe_servings_at_most_99 CHECK ("servings" < 100) NOT VALID;\n'
       'ALTER TABLE "Recipe" VALIDATE CONSTRAINT recipe_servings_at_most_99;\n'
       'COMMIT',
       'ALTER TABLE "Recipe" ADD CONSTRAINT recipe_servings_at_most_99 CHECK ("servings" < 100) NOT VALID;\n'
       'ALTER TABLE "Recipe" VALIDATE CONSTRAINT recipe_servings_at_most_99')


def not_valid_validate_same_transaction(script: Script) -> list[Finding]:
    """VALIDATE CONSTRAINT in the transaction that added the constraint NOT VALID (an explicit
    BEGIN ... COMMIT, one DO block, or one ALTER TABLE): the scan runs while the ADD's lock
    (ACCESS EXCLUSIVE for a CHECK, SHARE ROW EXCLUSIVE for a foreign key) is still held."""
    added: dict[tuple[int, str | None, str], str] = {}
    found = []
    for unit, cmd in script.commands(_AT.AT_AddConstraint, _AT.AT_ValidateConstraint):
        if cmd.subtype == _AT.AT_AddConstraint:
            if cmd.def_.skip_validation and cmd.def_.conname:
                added[(unit.transaction, unit.table, cmd.def_.conname)] = alter_table_cmd_lock(cmd)
            continue
        lock = added.get((unit.transaction, unit.table, cmd.name))
        if lock:
            found.append(script.finding(
                unit, rule="not-valid-validate-same-transaction", problem="validation-scan", level=ERROR, lock=lock,
                message=(f'VALIDATE CONSTRAINT {cmd.name} runs in the transaction that added it NOT VALID: '
                         f'its scan of "{unit.table}" runs while the ADD\'s {lock} lock is held, so '
                         f"{locks.blocks(lock)} for the whole scan"),
                help=("end the transaction after ADD ... NOT VALID and run VALIDATE CONSTRAINT as a "
                      "statement of its own (outside BEGIN ... COMMIT and outside the DO block)")))
    return found
