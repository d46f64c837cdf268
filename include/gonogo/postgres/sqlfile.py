"""SQL kept in .sql files: gonogo's own queries, the app's top queries, migrations.

Named queries use the yesql/aiosql convention: a `-- name: <id>` line opens a query
that runs until the next such line. Statements are split with PostgreSQL's own parser
(pglast), never by looking for semicolons.

A migration file (SqlFile) also says how its statements run (its mode):

- "statements": one at a time in autocommit, as `psql -f` runs a file; a BEGIN ... COMMIT the
  file writes itself groups what it encloses.
- "transaction": the whole file in one transaction, as Prisma, Flyway, Alembic, dbmate and
  golang-migrate run theirs. A statement that cannot run in a transaction block
  (CONCURRENTLY, VACUUM, ...) runs alone between two such transactions; a file that writes
  its own BEGIN/COMMIT keeps them.

`SqlFile.as_run` is the one list of statements the runner, the lock trace and the lint all
read: in transaction mode it holds the BEGIN and COMMIT gonogo sends around the file
(marked `implicit`), so each of them sees the same transactions.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import pglast
from pglast import ast, enums
from pglast.parser import ParseError, scan
from pglast.visitors import Visitor

from gonogo.postgres.statements import Statement, needs_autocommit

STATEMENTS, TRANSACTION = "statements", "transaction"
MODES = (STATEMENTS, TRANSACTION)


@dataclass(frozen=True)
class SqlFile:
    """A file of SQL as gonogo runs it: its path (for messages), its text as on disk (the
    checksum is of these bytes), its statements, and how they run (mode)."""

    path: Path
    text: str = field(repr=False)
    statements: tuple[Statement, ...] = field(repr=False)
    mode: str = STATEMENTS

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @functools.cached_property
    def as_run(self) -> tuple[Statement, ...]:
        """The statements in the order and transactions they are sent (see the module doc)."""
        if self.mode == STATEMENTS or any(s.is_transaction_control for s in self.statements):
            return self.statements
        return wrapped_in_transactions(self.statements)

    @property
    def one_transaction(self) -> bool:
        """Whether gonogo wraps the file in a transaction of its own (transaction mode)."""
        return any(s.implicit for s in self.as_run)


def read_sql_file(path: Path, *, mode: str = STATEMENTS, text: str | None = None,
                  first_line: int = 1) -> SqlFile:
    """A migration file parsed with PostgreSQL's parser. text: a part of the file (a dbmate
    section, say) that starts at first_line, so messages give the file's own line numbers.
    Raises BatchError naming the file and line of what PostgreSQL would refuse."""
    from gonogo.errors import BatchError
    from gonogo.postgres.statements import SqlSyntaxError, parse_script

    path = Path(path)
    if text is None:
        text = read_text(path)
    padded = "\n" * (first_line - 1) + text
    try:
        statements = parse_script(padded)
    except SqlSyntaxError as exc:
        raise BatchError(f"{path} {exc}") from None
    return SqlFile(path=path, text=padded if first_line > 1 else text, statements=tuple(statements), mode=mode)


def read_text(path: Path) -> str:
    """The file as on disk (the checksum is of its bytes), decoded as UTF-8; BatchError naming
    the line of a byte that is not."""
    from gonogo.errors import BatchError
    from gonogo.authoring.limits import MAX_SQL_BYTES, too_large

    too_large(path, MAX_SQL_BYTES, "SQL file", "a migration that large is a data load: put its DDL in a file of "
                                               "its own, and load the data with COPY")
    raw = Path(path).read_bytes()
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise BatchError(f"{path} line {line}: byte 0x{raw[exc.start]:02x} is not UTF-8; save the "
                         f"file as UTF-8") from None


def _control(kind: enums.TransactionStmtKind, sql: str, line: int) -> Statement:
    return Statement(sql=sql, line=line, node=ast.TransactionStmt(kind=kind), implicit=True)


def wrapped_in_transactions(statements: tuple[Statement, ...]) -> tuple[Statement, ...]:
    """The statements inside BEGIN ... COMMIT, each statement that cannot run in a transaction
    block alone between two of them."""
    out: list[Statement] = []
    open_at = None
    for statement in statements:
        if needs_autocommit(statement):
            if open_at is not None:
                out.append(_control(enums.TransactionStmtKind.TRANS_STMT_COMMIT, "COMMIT", statement.line))
                open_at = None
            out.append(statement)
            continue
        if open_at is None:
            out.append(_control(enums.TransactionStmtKind.TRANS_STMT_BEGIN, "BEGIN", statement.line))
            open_at = statement.line
        out.append(statement)
    if open_at is not None:
        out.append(_control(enums.TransactionStmtKind.TRANS_STMT_COMMIT, "COMMIT", statements[-1].line))
    return tuple(out)


def rolled_back(files: list[SqlFile], name: str) -> SqlFile | None:
    """The files' statements, in order, in one transaction that a ROLLBACK ends: a rehearsal
    whose changes nothing keeps. None when a file cannot run inside one (a statement that
    needs its own transaction, CONCURRENTLY or VACUUM; a SAVEPOINT or ROLLBACK of its own);
    the BEGIN and COMMIT a file writes or is wrapped in are left out. Lines stay each file's own."""
    body: list[Statement] = []
    for file in files:
        for statement in file.as_run:
            if needs_autocommit(statement):
                return None
            if statement.is_transaction_control:
                if statement.node.kind not in _PLAIN_BEGIN_COMMIT:
                    return None
                continue
            body.append(statement)
    if not body:
        return None
    control = enums.TransactionStmtKind
    return SqlFile(path=Path(name), text="", mode=STATEMENTS, statements=(
        _control(control.TRANS_STMT_BEGIN, "BEGIN", body[0].line), *body,
        _control(control.TRANS_STMT_ROLLBACK, "ROLLBACK", body[-1].line)))


_PLAIN_BEGIN_COMMIT = (enums.TransactionStmtKind.TRANS_STMT_BEGIN, enums.TransactionStmtKind.TRANS_STMT_START,
                       enums.TransactionStmtKind.TRANS_STMT_COMMIT)


# include/sql in the project; gonogo/sql in an installed package (pyproject.toml)
SQL_DIR = next((d for d in (Path(__file__).resolve().parents[1] / "sql", Path(__file__).resolve().parents[2] / "sql")
                if d.is_dir()), Path(__file__).resolve().parents[2] / "sql")
_NAME_LINE = re.compile(r"^--\s*name:\s*(?P<name>[\w.-]+)\s*$", re.MULTILINE)


def load_named(path: Path) -> dict[str, str]:
    """{name: sql} from a file of `-- name:` blocks, in file order."""
    text = read_text(Path(path))
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


def bound_parameters(text: str) -> list[tuple[str, int, int]]:
    """(name, start, end) of every %(name)s in the SQL, found with PostgreSQL's own scanner, so
    one inside a comment or a string literal is not taken for a parameter."""
    try:
        tokens = scan(text)
    except ParseError:
        return []  # parse_script reports it, with the line
    found = []
    for percent, opening, name, closing, s in zip(tokens, tokens[1:], tokens[2:], tokens[3:], tokens[4:]):
        if (text[percent.end] == "%" and text[opening.start] == "(" and text[closing.start] == ")"
                and text[s.start: s.end + 1] == "s"
                and percent.end + 1 == opening.start and opening.end + 1 == name.start
                and name.end + 1 == closing.start and closing.end + 1 == s.start):
            found.append((text[name.start: name.end + 1], percent.end, s.end + 1))
    return found


def positional(text: str, found: list[tuple[str, int, int]], names: tuple[str, ...] = ()) -> str:
    """The SQL with each %(name)s as $n (n: its place in `names`, else one past them), as the
    server sees it: what pglast can parse."""
    for name, start, end in reversed(found):
        number = names.index(name) + 1 if name in names else len(names) + 1
        text = text[:start] + f"${number}" + text[end:]
    return text


def writes(text: str) -> bool:
    """Whether a query with psycopg placeholders is an INSERT, UPDATE, DELETE or MERGE (in a
    CTE too), read from its parse tree."""
    try:
        [raw] = pglast.parse_sql(positional(text, bound_parameters(text)))
    except (ParseError, ValueError):
        return False
    found = _Writes()
    found(raw.stmt)
    return found.seen


class _Writes(Visitor):
    seen = False

    def visit_InsertStmt(self, ancestors, node):
        self.seen = True

    visit_UpdateStmt = visit_DeleteStmt = visit_MergeStmt = visit_InsertStmt
