"""ALTER COLUMN ... TYPE (with or without USING) rewrites the table under ACCESS EXCLUSIVE."""

from __future__ import annotations

from pglast import enums
from pglast.stream import RawStream

from gonogo.lint.finding import ERROR, Finding
from gonogo.lint.script import Script


def alter_column_type(script: Script) -> list[Finding]:
    """A type change rewrites the table and rebuilds its indexes (a USING expression always
    does) while holding ACCESS EXCLUSIVE: nothing reads or writes the table until it ends."""
    found = []
    for unit, cmd in script.commands(enums.AlterTableType.AT_AlterColumnType):
        type_name = RawStream()(cmd.def_.typeName) if cmd.def_.typeName else "?"
        using = " USING ..." if cmd.def_.raw_default is not None else ""
        found.append(script.finding(
            unit, rule="alter-column-type", problem="rewrite", level=ERROR, lock="ACCESS EXCLUSIVE",
            message=(f'ALTER COLUMN "{cmd.name}" TYPE {type_name}{using} on "{unit.table}" rewrites the '
                     f"table and its indexes under ACCESS EXCLUSIVE: reads and writes wait until it ends"),
            help=("add a column of the new type, dual-write it with a trigger, backfill it in batches, "
                  "switch the app over, then drop the old column in a disabled cleanup step")))
    return found
