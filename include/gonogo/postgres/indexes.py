"""Invalid-index recovery: a CREATE INDEX CONCURRENTLY that failed or was interrupted leaves
its index behind with indisvalid = false, and `IF NOT EXISTS` would then skip the build and
keep the broken index forever. Before every such build, gonogo looks for that leftover, drops
it CONCURRENTLY and lets the build run again."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from pglast import ast
from psycopg import sql

from gonogo.postgres.sqlfile import query
from gonogo.postgres.statements import Statement


def builds_index_concurrently(statement: Statement) -> str | None:
    """The name of the index a CREATE INDEX CONCURRENTLY statement builds, if it names one."""
    node = statement.node
    if isinstance(node, ast.IndexStmt) and node.concurrent and node.idxname:
        return node.idxname
    return None


def recover_invalid_index(conn: psycopg.Connection, name: str, log: Callable[[str], None]) -> bool:
    """Drop `name` CONCURRENTLY if it exists and is invalid; True when it did."""
    row = conn.execute(query("catalog.sql", "index_state"), {"name": name}).fetchone()
    if row is None or row[1]:
        return False
    schema, _valid = row
    log(f"    index {name} exists but is INVALID (an interrupted CONCURRENTLY build): "
        f"dropping it CONCURRENTLY and building it again")
    conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}.{}").format(sql.Identifier(schema),
                                                                           sql.Identifier(name)))
    return True
