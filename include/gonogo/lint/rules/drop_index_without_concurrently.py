"""DROP INDEX without CONCURRENTLY."""

from __future__ import annotations

from pglast import ast

from gonogo.lint.finding import WARNING, Finding
from gonogo.lint.script import Script

FIX = ('DROP INDEX recipe_category', 'DROP INDEX CONCURRENTLY IF EXISTS recipe_category')


def drop_index_without_concurrently(script: Script) -> list[Finding]:
    """DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the index's table: every read
    and write of the table waits while it queues for the lock and while it runs. A warning,
    not an error: the drop itself is a catalog change and a file unlink (no scan, no build),
    and gonogo's lock_timeout bounds the queueing; but in a file run in one transaction the
    lock lasts to the COMMIT (transaction-holds-lock). Not reported for an index this file
    created earlier, nor for one on a table the batch creates (nobody uses it yet). In a
    rollback file, dropping what the forward step created is its job, and still a warning:
    the lock is the same."""
    found = []
    for unit in script.units:
        node = unit.node
        if not isinstance(node, ast.DropStmt) or node.concurrent:
            continue
        dropped = script.dropped_indexes(unit)
        if not dropped:
            continue
        tables = [table for _, table in dropped]
        on = (", ".join(f'"{t}"' for t in dict.fromkeys(tables)) if all(tables)
              else "its table" if len(dropped) == 1 else "their tables")
        names = ", ".join(f'"{name}"' for name, _ in dropped)
        fix = " ".join(f"DROP INDEX CONCURRENTLY IF EXISTS {_quoted(obj)};" for obj in node.objects
                       if obj[-1].sval in {name for name, _ in dropped})
        alone = "; the file runs in one transaction: put it in a migration of its own" \
            if script.one_transaction else ""
        found.append(script.finding(
            unit, rule="drop-index-without-concurrently", problem="drop-index", level=WARNING,
            lock="ACCESS EXCLUSIVE",
            message=(f"DROP INDEX {names} without CONCURRENTLY takes ACCESS EXCLUSIVE on {on}: every read and "
                     f"write of the table waits while it queues for the lock and while it runs"),
            help=f"{fix} each a statement of its own, outside a transaction block{alone}"))
    return found


def _quoted(obj) -> str:
    return ".".join(part.sval if part.sval.isidentifier() and part.sval == part.sval.lower()
                    else '"' + part.sval.replace('"', '""') + '"' for part in obj)
