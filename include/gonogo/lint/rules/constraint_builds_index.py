"""ADD CONSTRAINT ... UNIQUE / PRIMARY KEY / EXCLUDE that builds its index under ACCESS EXCLUSIVE."""

from __future__ import annotations

from pglast import enums

from gonogo.lint.finding import ERROR, Finding
from gonogo.lint.script import Script

_CT = enums.ConstrType
_KINDS = {_CT.CONSTR_UNIQUE: "UNIQUE", _CT.CONSTR_PRIMARY: "PRIMARY KEY", _CT.CONSTR_EXCLUSION: "EXCLUDE"}


def constraint_builds_index(script: Script) -> list[Finding]:
    """Without USING INDEX, the constraint's index is built while ACCESS EXCLUSIVE is held:
    nothing reads or writes the table for the whole build."""
    found = []
    for unit, cmd in script.commands(enums.AlterTableType.AT_AddConstraint):
        kind = _KINDS.get(cmd.def_.contype)
        if kind and not cmd.def_.indexname:
            found.append(script.finding(
                unit, rule="constraint-builds-index", problem="index-build-exclusive", level=ERROR, lock="ACCESS EXCLUSIVE",
                message=(f'ADD CONSTRAINT {cmd.def_.conname or ""} {kind} on "{unit.table}" builds its '
                         f"index under ACCESS EXCLUSIVE: reads and writes wait for the whole build"),
                help=(f"CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... {kind} USING "
                      f"INDEX (a catalog-only change)")))
    return found
