"""DROP COLUMN outside a disabled cleanup step (seed red flag: dropping without deprecation)."""

from __future__ import annotations

from pglast import enums

from gonogo.lint.finding import ERROR, WARNING, Finding
from gonogo.lint.script import Script

# The same statement, in a cleanup step that stays disabled until the app no longer uses the column.
FIX = ('ALTER TABLE "Recipe" DROP COLUMN IF EXISTS "category"',) * 2
FIX_STEP = {"step_kind": "cleanup", "step_enabled": False}


def drop_column(script: Script) -> list[Finding]:
    """A migration that drops a column breaks every app version still using it and loses its
    data for good. Allowed (as a warning) only in a cleanup step that stays disabled until
    it gets its own approval; rollback files are exempt (they drop what their step added)."""
    if script.rollback:
        return []
    found = []
    for unit, cmd in script.commands(enums.AlterTableType.AT_DropColumn):
        column = f'"{unit.table}"."{cmd.name}"'
        if script.disabled_cleanup:
            found.append(script.finding(
                unit, rule="drop-column", level=WARNING, lock="ACCESS EXCLUSIVE",
                message=(f"DROP COLUMN {column} loses the column's data for good; this disabled cleanup "
                         f"step runs only when enabled with its own approval"),
                help="enable it only after production has run without the column being read or written"))
        else:
            found.append(script.finding(
                unit, rule="drop-column", level=ERROR, lock="ACCESS EXCLUSIVE",
                message=(f"DROP COLUMN {column} without deprecation: app versions that still use it "
                         f"break, and its data is lost for good"),
                help=("deprecate it first: stop the app using it, then drop it in a cleanup step that "
                      "stays disabled (enabled: false) until production has run without it")))
    return found
