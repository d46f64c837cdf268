"""CREATE INDEX without CONCURRENTLY on a table in use."""

from __future__ import annotations

from pglast import ast

from gonogo.postgres import locks
from gonogo.lint.finding import ERROR, Finding
from gonogo.lint.script import Script

FIX = ('CREATE INDEX recipe_name ON "Recipe" ("name")',
       'CREATE INDEX CONCURRENTLY IF NOT EXISTS recipe_name ON "Recipe" ("name")')


def index_without_concurrently(script: Script) -> list[Finding]:
    """A plain CREATE INDEX holds SHARE on the table for the whole build: writes wait. squawk
    reports it too, but not inside a DO block."""
    found = []
    for unit in script.units:
        node = unit.node
        if isinstance(node, ast.IndexStmt) and not node.concurrent and unit.table not in script.new_tables:
            lock = script.held_lock(unit)  # SHARE, or a stronger one its transaction took before
            found.append(script.finding(
                unit, rule="index-without-concurrently", problem="index-build", level=ERROR, lock=lock,
                message=(f'CREATE INDEX {node.idxname + " " if node.idxname else ""}on "{unit.table}" without CONCURRENTLY '
                         f"holds {lock} for the whole build: {locks.blocks(lock)} until it ends"),
                help=("CREATE INDEX CONCURRENTLY IF NOT EXISTS, as a statement of its own (it cannot run "
                      "inside BEGIN ... COMMIT or a DO block)")))
    return found
