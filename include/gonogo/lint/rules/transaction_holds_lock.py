"""A file run in one transaction keeps every lock to its COMMIT."""

from __future__ import annotations

from pglast import ast, enums

from gonogo.lint.finding import WARNING, Finding
from gonogo.lint.script import Script
from gonogo.locks import blocks_app, blocks


def transaction_holds_lock(script: Script) -> list[Finding]:
    """In a file gonogo runs in one transaction (as Prisma, Flyway, Alembic run theirs), a lock
    that makes the app wait, taken by one statement, stays held through every later statement
    until the file's COMMIT. Statement by statement it would be released at once. Reported at
    the statement that takes it, naming what runs while it is held, when something that reads
    or writes a whole existing table follows (catalog-only changes, and a new table's empty
    rows, are over in a moment)."""
    if not script.one_transaction:
        return []
    found = []
    units = [u for u in script.units if not u.statement.is_transaction_control]
    reported: set[tuple[int, str]] = set()
    for i, unit in enumerate(units):
        lock, table = unit.lock, unit.table
        if not lock or not table or not blocks_app(lock) or table in script.new_tables:
            continue
        if (unit.transaction, table) in reported:
            continue
        after = [u for u in units[i + 1:] if u.transaction == unit.transaction]
        if not any(_slow(u) and u.table not in script.new_tables for u in after):
            continue  # only quick catalog changes follow: the lock is released in a moment anyway
        reported.add((unit.transaction, table))
        lines = f"line {after[0].line}" if len(after) == 1 else f"lines {after[0].line}–{after[-1].line}"
        listed = "; ".join(u.summary(50) for u in after[:3]) + (f"; and {len(after) - 3} more" if len(after) > 3 else "")
        found.append(script.finding(
            unit, rule="transaction-holds-lock", level=WARNING, lock=lock,
            message=(f'the file runs in one transaction: {lock} on "{table}", taken here, stays held until its '
                     f"COMMIT, through {len(after)} more statement{'s' if len(after) > 1 else ''} ({lines}: "
                     f"{listed}); {blocks(lock)} meanwhile. Run statement by statement it would be held "
                     f"only while this statement runs"),
            help=("put the slow statements (a backfill, each index build) in migrations of their own, or "
                  "run this step statement by statement (mode: statements) if your tool allows it; the "
                  "dry run measures the real hold against the lock budget")))
    return found


_AT = enums.AlterTableType
# ALTER TABLE subcommands that read or rewrite the whole table
_SCANS = {_AT.AT_SetNotNull, _AT.AT_AlterColumnType, _AT.AT_ValidateConstraint, _AT.AT_AddIndex}


def _slow(unit) -> bool:
    """Does the statement read or write a whole table (rows, not only the catalog)?"""
    node = unit.node
    if isinstance(node, (ast.UpdateStmt, ast.DeleteStmt, ast.InsertStmt, ast.MergeStmt,
                         ast.CreateTableAsStmt, ast.ClusterStmt, ast.VacuumStmt, ast.ReindexStmt)):
        return True
    if isinstance(node, ast.IndexStmt):
        return not node.concurrent
    if isinstance(node, ast.AlterTableStmt):
        for cmd in node.cmds or ():
            if cmd.subtype in _SCANS:
                return True
            if cmd.subtype == _AT.AT_AddConstraint and not cmd.def_.skip_validation and cmd.def_.contype in (
                    enums.ConstrType.CONSTR_CHECK, enums.ConstrType.CONSTR_FOREIGN, enums.ConstrType.CONSTR_UNIQUE,
                    enums.ConstrType.CONSTR_PRIMARY, enums.ConstrType.CONSTR_EXCLUSION):
                return True
    return False
