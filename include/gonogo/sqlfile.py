"""SQL kept in .sql files: gonogo's own queries, the app's top queries, migrations.

Named queries use the yesql/aiosql convention: a `-- name: <id>` line opens a query
that runs until the next such line. Statements are split with PostgreSQL's own parser
(pglast), never by looking for semicolons.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pglast

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
_NAME_LINE = re.compile(r"^--\s*name:\s*(?P<name>[\w.-]+)\s*$", re.MULTILINE)


def load_named(path: Path) -> dict[str, str]:
    """{name: sql} from a file of `-- name:` blocks, in file order."""
    text = Path(path).read_text()
    marks = list(_NAME_LINE.finditer(text))
    if not marks:
        raise ValueError(f"{path}: no '-- name: <id>' lines; each query must be named")
    queries: dict[str, str] = {}
    for mark, following in zip(marks, [*marks[1:], None]):
        body = text[mark.end(): following.start() if following else len(text)].strip()
        body = body.rstrip(";").strip()
        if mark["name"] in queries:
            raise ValueError(f"{path}: query {mark['name']!r} is defined twice")
        queries[mark["name"]] = body
    return queries


@functools.cache
def query(file: str, name: str) -> str:
    """One named query from include/sql/<file>."""
    return load_named(SQL_DIR / file)[name]


def split_statements(sql: str) -> list[str]:
    """Top-level statements of a script, as PostgreSQL would see them."""
    return [s.strip() for s in pglast.split(sql) if s.strip()]


def with_placeholders(text: str, spans: list[tuple[int, int, str]]) -> str:
    """The SQL as psycopg must be given it: each (start, end) span, in order, replaced by its
    placeholder and every other % doubled (a "100 %" in a comment or a LIKE '%x' would
    otherwise be read as a placeholder)."""
    parts, position = [], 0
    for start, end, placeholder in spans:
        parts += [text[position:start].replace("%", "%%"), placeholder]
        position = end
    return "".join(parts) + text[position:].replace("%", "%%")
