"""A file run in one transaction keeps every lock to its COMMIT."""

from __future__ import annotations

from dataclasses import dataclass

from pglast import ast, enums

from gonogo.lint.finding import WARNING, Finding
from gonogo.lint.script import Script, Unit
from gonogo.locks import LOCK_MODES, blocks, blocks_app, strongest


def transaction_holds_lock(script: Script) -> list[Finding]:
    """In a file gonogo runs in one transaction (as Prisma, Flyway, Alembic run theirs), a lock
    that makes the app wait, taken by one statement, stays held through every later statement
    until the file's COMMIT. Statement by statement it would be released at once. Reported at
    the statement that takes it, naming what runs while it is held, when something that reads
    or writes a whole existing table follows (catalog-only changes, and a new table's empty
    rows, are over in a moment). The longest of these holds is named in the step's lint
    result too (longest_hold)."""
    found = []
    for hold in holds(script):
        unit, after = hold.start, hold.after
        if not any(_slow(u) and u.table not in script.new_tables for u in after):
            continue  # only quick catalog changes follow: the lock is released in a moment anyway
        lock, table = unit.lock, hold.table
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


@dataclass(frozen=True)
class Hold:
    """A lock that makes the app wait, held on one table from the statement that first takes
    it to the COMMIT of the file's transaction."""

    table: str
    lock: str                    # the strongest mode the transaction holds on it by the COMMIT
    start: Unit                  # the statement that takes it first
    after: tuple[Unit, ...]      # the statements that run after it in the transaction
    slow: tuple[Unit, ...]       # those of start and after that read or write a whole existing table
    last_line: int               # the line of the transaction's last statement: the COMMIT follows it

    def sentence(self) -> str:
        """The hold in words, for the step's lint result."""
        work = ", ".join(f"{u.summary(50)} (line {u.line})" for u in self.slow[:3])
        work += f" and {len(self.slow) - 3} more" if len(self.slow) > 3 else ""
        under = (f"{work} run{'s' if len(self.slow) == 1 else ''} under it" if self.slow
                 else "only catalog changes run under it")
        return (f"it runs in one transaction, so each lock is held until the COMMIT; the longest hold: "
                f'{self.lock} on "{self.table}" from line {self.start.line} to the COMMIT after line '
                f"{self.last_line} ({blocks(self.lock)} meanwhile); {under}")


def holds(script: Script) -> list[Hold]:
    """The app-blocking locks a file run in one transaction holds to its COMMIT, one per
    transaction and existing table, in file order."""
    if not script.one_transaction:
        return []
    units = [u for u in script.units if not u.statement.is_transaction_control]
    found: dict[tuple[int, str], Hold] = {}
    for i, unit in enumerate(units):
        lock, table = unit.lock, unit.table or _index_table(script, unit)
        if not lock or not table or not blocks_app(lock) or table in script.new_tables:
            continue
        if (unit.transaction, table) in found:
            continue
        same = [u for u in units[i:] if u.transaction == unit.transaction]
        found[(unit.transaction, table)] = Hold(
            table=table, lock=strongest(u.lock for u in same if table in (u.table, _index_table(script, u))),
            start=unit,
            after=tuple(same[1:]), slow=tuple(u for u in same if _slow(u) and u.table not in script.new_tables),
            last_line=same[-1].line)
    return list(found.values())


def _index_table(script: Script, unit: Unit) -> str | None:
    """For a DROP INDEX, the table of the index, where the batch shows it (it locks the table)."""
    node = unit.node
    if not (isinstance(node, ast.DropStmt) and node.removeType == enums.ObjectType.OBJECT_INDEX):
        return None
    return next((script.index_tables[o[-1].sval] for o in node.objects if o[-1].sval in script.index_tables), None)


def longest_hold(script: Script) -> Hold | None:
    """The hold with the most slow work under it (then the strongest lock, then the first)."""
    ranked = sorted(holds(script), key=lambda h: (-len(h.slow), -LOCK_MODES.index(h.lock), h.start.line))
    return ranked[0] if ranked else None


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
