"""ADD CONSTRAINT ... UNIQUE / PRIMARY KEY / EXCLUDE that builds its index under ACCESS EXCLUSIVE.

PostgreSQL refuses NOT VALID on these constraints: the fix is to build the index first,
CONCURRENTLY, and attach it (ADD CONSTRAINT ... USING INDEX, a catalog-only change). An
exclusion constraint cannot be attached that way, so for EXCLUDE there is no online fix.
"""

from __future__ import annotations

import re

from pglast import enums

from gonogo.lint.finding import ERROR, Finding
from gonogo.lint.script import Script, added_constraint

_CT = enums.ConstrType
_KINDS = {_CT.CONSTR_UNIQUE: "UNIQUE", _CT.CONSTR_PRIMARY: "PRIMARY KEY", _CT.CONSTR_EXCLUSION: "EXCLUDE"}

FIX = ('ALTER TABLE "Recipe" ADD CONSTRAINT recipe_name_key UNIQUE ("name")',
       'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS recipe_name_key ON "Recipe" ("name");\n'
       'ALTER TABLE "Recipe" ADD CONSTRAINT recipe_name_key UNIQUE USING INDEX recipe_name_key')


def constraint_builds_index(script: Script) -> list[Finding]:
    """Without USING INDEX, the constraint's index is built while ACCESS EXCLUSIVE is held:
    nothing reads or writes the table for the whole build."""
    found = []
    for unit, cmd in script.commands(enums.AlterTableType.AT_AddConstraint):
        kind = _KINDS.get(cmd.def_.contype)
        if kind and not cmd.def_.indexname:
            found.append(script.finding(
                unit, rule="constraint-builds-index", problem="index-build-exclusive", level=ERROR,
                lock="ACCESS EXCLUSIVE",
                message=(f'{added_constraint(cmd.def_, kind)} on "{unit.table}" builds its '
                         f"index under ACCESS EXCLUSIVE: reads and writes wait for the whole build"),
                help=_help(unit.table, cmd.def_, kind)))
    return found


def _help(table: str, constraint, kind: str) -> str:
    if kind == "EXCLUDE":
        return ("PostgreSQL cannot build an exclusion constraint's index concurrently nor attach one built "
                "before (NOT VALID and USING INDEX are refused for EXCLUDE): add it while the table is small "
                "or in a maintenance window; gonogo's lock_timeout bounds the wait for the lock")
    name = _ident(constraint.conname or f"{table}_{kind.split()[0].lower()}")
    columns = ", ".join(f'"{key.sval}"' for key in constraint.keys or ()) or "columns"
    build = (f'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {name} ON "{table}" ({columns}) as a statement of its '
             f'own (SHARE UPDATE EXCLUSIVE: reads and writes go on), then ALTER TABLE "{table}" ADD CONSTRAINT '
             f"{name} {kind} USING INDEX {name} (catalog-only); NOT VALID is refused for {kind}")
    if kind == "PRIMARY KEY":
        build += (" — the columns must be NOT NULL first, or ADD PRIMARY KEY sets it with a scan under ACCESS "
                  "EXCLUSIVE (see set-not-null for the way without a scan)")
    return build


def _ident(name: str) -> str:
    """A name as SQL must spell it: quoted unless it is lower case."""
    return name if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) else '"' + name.replace('"', '""') + '"'
