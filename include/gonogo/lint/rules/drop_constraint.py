"""DROP CONSTRAINT outside a disabled cleanup step (seed red flag: dropping without deprecation)."""

from __future__ import annotations

from pglast import enums

from gonogo.lint.finding import ERROR, WARNING, Finding
from gonogo.lint.script import Script

_AT = enums.AlterTableType

# The same statement, in a cleanup step that stays disabled until nothing relies on the constraint.
FIX = ('ALTER TABLE "Recipe" DROP CONSTRAINT IF EXISTS recipe_servings_positive',) * 2
FIX_STEP = {"step_kind": "cleanup", "step_enabled": False}


def drop_constraint(script: Script) -> list[Finding]:
    """A migration that drops a constraint removes a guarantee the data and the app rely on.
    Allowed (as a warning) only in a disabled cleanup step; a drop the file follows with an
    ADD of the same constraint (a replace) and rollback files are exempt."""
    if script.rollback:
        return []
    readded = {(unit.table, cmd.def_.conname) for unit, cmd in script.commands(_AT.AT_AddConstraint)}
    found = []
    for unit, cmd in script.commands(_AT.AT_DropConstraint):
        if (unit.table, cmd.name) in readded:
            continue
        if script.disabled_cleanup:
            found.append(script.finding(
                unit, rule="drop-constraint", level=WARNING, lock="ACCESS EXCLUSIVE",
                message=(f'DROP CONSTRAINT {cmd.name} on "{unit.table}" removes a guarantee; this disabled '
                         f"cleanup step runs only when enabled with its own approval"),
                help="enable it only after nothing relies on the constraint any more"))
        else:
            found.append(script.finding(
                unit, rule="drop-constraint", level=ERROR, lock="ACCESS EXCLUSIVE",
                message=(f'DROP CONSTRAINT {cmd.name} on "{unit.table}" without deprecation: rows that '
                         f"break the guarantee can arrive at once, and the app may rely on it"),
                help=("deprecate it first, then drop it in a cleanup step that stays disabled "
                      "(enabled: false) until production has run without relying on it")))
    return found
