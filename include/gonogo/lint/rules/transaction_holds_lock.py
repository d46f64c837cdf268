"""A file run in one transaction, or a BEGIN ... COMMIT or DO block in a file, keeps every lock to its COMMIT."""

from __future__ import annotations

from dataclasses import dataclass

from pglast import ast, enums

from gonogo.lint.finding import WARNING, Finding
from gonogo.lint.script import Script, Unit
from gonogo.postgres.locks import LOCK_MODES, blocks, blocks_app, strongest

# (bad, fixed): an index built under the ADD COLUMN's lock in one transaction, and the same
# work as statements of their own
FIX = ('BEGIN;\nALTER TABLE "Recipe" ADD COLUMN IF NOT EXISTS "slug" text;\n'
       'CREATE INDEX IF NOT EXISTS "Recipe_category_idx" ON "Recipe" ("category");\nCOMMIT',
       'ALTER TABLE "Recipe" ADD COLUMN IF NOT EXISTS "slug" text;\n'
       'CREATE INDEX CONCURRENTLY IF NOT EXISTS "Recipe_category_idx" ON "Recipe" ("category")')


def transaction_holds_lock(script: Script) -> list[Finding]:
    """In a file gonogo runs in one transaction (as Prisma, Flyway, Alembic run theirs), a lock
    that makes the app wait, taken by one statement, stays held through every later statement
    until the file's COMMIT. Statement by statement it would be released at once. Reported at
    the statement that takes it, naming what runs while it is held, when something that reads
    or writes a whole existing table follows (catalog-only changes, and a new table's empty
    rows, are over in a moment). The same holds inside an explicit BEGIN ... COMMIT and a DO
    block of a file run statement by statement. The longest of these holds is named in the
    step's lint result too (longest_hold)."""
    found = []
    for hold in holds(script):
        unit, after = hold.start, hold.after
        slow = [u for u in after if _slow(u) and u.table not in script.new_tables]
        if not slow:
            continue  # only quick catalog changes follow: the lock is released in a moment anyway
        if all(_validates(u) for u in slow):
            continue  # not-valid-validate-same-transaction names that problem, at the VALIDATE
        lock, table = unit.lock, hold.table
        lines = f"line {after[0].line}" if len(after) == 1 else f"lines {after[0].line}–{after[-1].line}"
        listed = "; ".join(u.summary(50) for u in after[:3]) + (f"; and {len(after) - 3} more" if len(after) > 3 else "")
        found.append(script.finding(
            unit, rule="transaction-holds-lock", level=WARNING, lock=lock,
            message=(f'{hold.how}: {lock} on "{table}", taken here, stays held until its '
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
    whole_file: bool = True      # the file's one transaction; else a BEGIN ... COMMIT or DO block in it

    @property
    def how(self) -> str:
        return "the file runs in one transaction" if self.whole_file else "this runs in one transaction"

    def sentence(self) -> str:
        """The hold in words, for the step's lint result."""
        work = ", ".join(f"{u.summary(50)} (line {u.line})" for u in self.slow[:3])
        work += f" and {len(self.slow) - 3} more" if len(self.slow) > 3 else ""
        under = (f"{work} run{'s' if len(self.slow) == 1 else ''} under it" if self.slow
                 else "only catalog changes run under it")
        return (f"{self.how}, so each lock is held until its COMMIT; the longest hold: "
                f'{self.lock} on "{self.table}" from line {self.start.line} to the COMMIT after line '
                f"{self.last_line} ({blocks(self.lock)} meanwhile); {under}")


def holds(script: Script) -> list[Hold]:
    """The app-blocking locks a file run in one transaction holds to its COMMIT, one per
    transaction and existing table, in file order."""
    units = [u for u in script.units if not u.statement.is_transaction_control]
    found: dict[tuple[int, str], Hold] = {}
    for i, unit in enumerate(units):
        lock, table = unit.lock, unit.table or _index_table(script, unit)
        if not lock or not table or not blocks_app(lock) or table in script.new_tables:
            continue
        if (unit.transaction, table) in found:
            continue
        same = [u for u in units[i:] if u.transaction == unit.transaction]
        if len(same) == 1 and not script.one_transaction:
            continue  # a statement in its own transaction: its lock ends with it
        found[(unit.transaction, table)] = Hold(
            table=table, lock=strongest(u.lock for u in same if table in (u.table, _index_table(script, u))),
            start=unit,
            after=tuple(same[1:]), slow=tuple(u for u in same if _slow(u) and u.table not in script.new_tables),
            last_line=same[-1].line, whole_file=script.one_transaction)
    return list(found.values())


def _validates(unit: Unit) -> bool:
    return isinstance(unit.node, ast.AlterTableStmt) and all(
        cmd.subtype == _AT.AT_ValidateConstraint for cmd in unit.node.cmds or ())


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
