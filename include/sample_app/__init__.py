"""The recipe-management app gonogo rehearses its migrations on: schema, data, defects, queries.

Everything here is deterministic so that a rehearsal on staging and a run on production see
the same rows, the same bad rows and the same query parameters. The SQL lives in .sql files
next to this module; Python only orchestrates.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pglast
import psycopg
from psycopg import sql

from gonogo.postgres.sqlfile import load_named, split_statements
from gonogo.postgres.target import Target

HERE = Path(__file__).resolve().parent
DATABASE = "recipes"                 # the app's database on the local production cluster
BATCH = "20250115_recipe_fixes"      # the batch of the seed's checklist, which the demo rolls out
SCHEMA_FILE = HERE / "schema.sql"
GENERATE_FILE = HERE / "generate.sql"
QUERIES_FILE = HERE / "queries.sql"
DEFECTS_DIR = HERE / "defects"

DEFECTS: tuple[str, ...] = (
    "orphan_recipe_items",
    "orphan_recipe_sections",
    "orphan_ingredient_refs",
    "orphan_user_refs",
    "duplicate_recipe_items",
    "duplicate_recipe_sections",
    "nonpositive_prices",
    "nonpositive_quantities",
    "unmapped_categories",
)

# Values generate.sql is known to produce, so that every query finds rows.
CATEGORIES = ("Breads", "Cakes", "Pastries", "Soups", "Salads", "Mains", "Desserts", "Sauces",
              "Drinks", "Sides")
SEARCH_TERMS = ("sourdough", "lemon", "proof", "tart", "honey", "sieve", "rustic", "cinnamon",
                "catering", "glaze")
ORDER_STATUSES = ("pending", "confirmed", "shipped", "delivered", "cancelled")


@functools.cache
def table_names() -> tuple[str, ...]:
    """The tables of schema.sql in creation order (parents before children)."""
    statements = pglast.parse_sql(SCHEMA_FILE.read_text())
    return tuple(raw.stmt.relation.relname for raw in statements
                 if isinstance(raw.stmt, pglast.ast.CreateStmt))


def companies(scale: float) -> int:
    """How many companies a scale yields; generate.sql computes the same: max(1, round(50*scale))."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    exact = Decimal(_scale_text(scale)) * 50
    return max(1, int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)))


def _scale_text(scale: float) -> str:
    return str(float(scale))


def _run_script(conn: psycopg.Connection, path: Path) -> None:
    for statement in split_statements(path.read_text()):
        conn.execute(statement)


def create_schema(conn: psycopg.Connection) -> None:
    """Create the app's pre-migration schema (schema.sql) in the connected database."""
    with conn.transaction():
        _run_script(conn, SCHEMA_FILE)


def generate(conn: psycopg.Connection, scale: float = 1.0) -> None:
    """Fill the empty schema with deterministic data: same scale, byte-identical rows.

    The scale goes to the server once, as a session setting generate.sql reads, so all rows
    are made server-side in one transaction.
    """
    companies(scale)  # validates the scale before anything is written
    with conn.transaction():
        conn.execute("SELECT set_config('sample_app.scale', %s, false)", [_scale_text(scale)])
        _run_script(conn, GENERATE_FILE)


def inject_defects(conn: psycopg.Connection, names: Iterable[str]) -> None:
    """Add the few bad rows each named defect stands for (defects/<name>.sql).

    Each defect inserts rows with ids far beyond the generated ones, ON CONFLICT DO NOTHING,
    so injecting the same defect again changes nothing.
    """
    names = list(names)
    unknown = [name for name in names if name not in DEFECTS]
    if unknown:
        raise ValueError(f"unknown defect(s) {', '.join(unknown)}; valid: {', '.join(DEFECTS)}")
    with conn.transaction():
        for name in names:
            _run_script(conn, DEFECTS_DIR / f"{name}.sql")


def row_counts(conn: psycopg.Connection) -> dict[str, int]:
    """{table: number of rows} for the app's tables."""
    counts = {}
    for table in table_names():
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        counts[table] = conn.execute(query).fetchone()[0]
    return counts


def load(target: Target, scale: float = 1.0, defects: Iterable[str] = ()) -> dict[str, int]:
    """Schema, data and defects into an empty database; returns the row count per table."""
    defects = list(defects)
    with target.connect("sample_app/load", guards=None) as conn:
        create_schema(conn)
        generate(conn, scale)
        if defects:
            inject_defects(conn, defects)
            conn.execute("ANALYZE")
        return row_counts(conn)


@functools.cache
def top_queries() -> dict[str, str]:
    """{name: sql} of the app's top queries (queries.sql), with psycopg %(name)s placeholders."""
    return load_named(QUERIES_FILE)


def _pick(i: int, salt: int, n: int) -> int:
    """A deterministic, well-spread index in 0..n-1 for the i-th execution."""
    return (i * 7919 + salt * 104729) % n


def query_params(name: str, i: int, scale: float = 1.0) -> dict[str, Any]:
    """Parameters for the i-th execution of a top query, naming rows that exist at that scale."""
    n = companies(scale)
    company_id = 1 + _pick(i, 1, n)
    month = 1 + _pick(i, 2, 12)
    start = dt.datetime(2024, month, 1)
    month_end = dt.datetime(2024 + month // 12, month % 12 + 1, 1)
    quarter_end = dt.datetime(2024 + (month + 2) // 12, (month + 2) % 12 + 1, 1)
    params: dict[str, dict[str, Any]] = {
        "recipe_list": {"company_id": company_id, "limit": 20, "offset": 20 * _pick(i, 3, 3)},
        "recipe_search": {"pattern": f"%{SEARCH_TERMS[_pick(i, 4, len(SEARCH_TERMS))]}%"},
        "recipe_detail": {"recipe_id": 1 + _pick(i, 5, 100 * n)},
        "recipe_cost": {"recipe_id": 1 + _pick(i, 6, 100 * n)},
        "recipes_by_category": {"company_id": company_id,
                                "category": CATEGORIES[_pick(i, 7, len(CATEGORIES))]},
        "sales_analytics": {"company_id": company_id, "date_from": start, "date_to": quarter_end},
        "production_history": {"company_id": company_id, "date_from": start, "date_to": month_end},
        "inventory_history": {"ingredient_id": 1 + _pick(i, 8, 100 * n)},
        "unread_notifications": {"user_id": 1 + _pick(i, 9, 10 * n)},
        "wholesale_orders_by_status": {"company_id": company_id,
                                       "status": ORDER_STATUSES[_pick(i, 10, len(ORDER_STATUSES))]},
        "save_recipe": {"recipe_id": 1 + _pick(i, 11, 100 * n)},
        "mark_notification_read": {"notification_id": 1 + _pick(i, 12, 400 * n)},
    }
    if name not in params:
        raise ValueError(f"unknown query {name!r}; known: {', '.join(params)}")
    return params[name]
