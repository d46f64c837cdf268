"""Ground truth for the lint: what PostgreSQL really does for each statement of the corpus
(tests/corpus/lint), measured on a real cluster. Used by tests/integration/test_lint_truth.py
(the lint's claims must equal it) and tests/bench/test_bench_lint_corpus.py (caught, missed,
false alarms for gonogo and squawk).

Each case of the corpus (a statement, or a statement chained to the ones before it with
`-- truth: after previous`) runs on a copy of tests/corpus/lint/schema.sql inside BEGIN …
ROLLBACK, so every case starts from the same state. Around each statement the session reads:

- its own relation locks (pg_locks, granted, its backend); the locks the statement added are
  the (relation, mode) pairs that were not held before it; a lock on an index counts for the
  index's table; relations the statement itself creates are left out (nobody else sees them);
- pg_class.relfilenode of every relation before and after (a table with new, non-empty
  storage was rewritten; an index with new storage, or a new index, was built);
- pg_stat_xact_user_tables: rows it updated or deleted, and rows it read (a scan), per table.

A statement that cannot run inside a transaction block (SQLSTATE 25001: CONCURRENTLY;
2D000: a DO block that COMMITs) runs as written, in autocommit, on its own scratch copy of the
schema, while a second session holds ROW EXCLUSIVE and a row lock on every row of each table
it names, so the statement stops at its first wait (CONCURRENTLY waits for older writers; a
batch UPDATE waits for its first row): the locks it holds there are its measured locks, read
by the second session, which then lets it go on and keeps polling until it ends (what that
sampling sees is kept apart, in sampled_later: a short lock can fall between two polls). Rows written per transaction are counted from
xmin afterwards (new row versions of one transaction); for DELETE that count is gone with the
rows, so a committed-batch DELETE's per-transaction share is "not measured".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from pglast import ast
from pglast.visitors import Visitor
from psycopg import sql

from gonogo.postgres.locks import LOCK_MODES, normalize, strongest
from gonogo.postgres.statements import parse_script
from helpers import create_database, drop_database

CORPUS = Path(__file__).parent / "corpus" / "lint"
SCHEMA = CORPUS / "schema.sql"
WHOLE_TABLE = 0.5  # rows written in one transaction ÷ rows in the table, from which a write is whole-table
_AFTER_PREVIOUS = "-- truth: after previous"
_BREAKS_APP = "-- truth: breaks-app"
_NOT_IN_BLOCK = {"25001", "2D000"}
_WRITE_BLOCKING = LOCK_MODES.index("SHARE")  # SHARE and stronger conflict with ROW EXCLUSIVE: the app's writes wait

_RELATIONS = """
SELECT c.oid, c.relname, c.relkind, c.relfilenode, coalesce(i.indrelid, owner.refobjid) AS owner,
       coalesce(s.n_tup_upd + s.n_tup_del, 0) AS written,
       coalesce(s.seq_tup_read, 0) + coalesce(s.idx_tup_fetch, 0) AS read
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index i ON i.indexrelid = c.oid
LEFT JOIN pg_depend owner ON c.relkind = 'S' AND owner.classid = 'pg_class'::regclass AND owner.objid = c.oid
     AND owner.refclassid = 'pg_class'::regclass AND owner.deptype IN ('a', 'i')
LEFT JOIN pg_stat_xact_user_tables s ON s.relid = c.oid
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%'
  AND c.relkind IN ('r', 'p', 'i', 'I', 'm', 'v', 'S')
"""
_OWN_LOCKS = ("SELECT relation, mode FROM pg_locks "
              "WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted")
_LOCKS_OF = "SELECT relation, mode, granted, locktype = 'relation' FROM pg_locks WHERE pid = %s"


@dataclass(frozen=True)
class CorpusStatement:
    file: str
    line: int       # first line of the statement in its file
    end_line: int
    sql: str
    node: ast.Node = field(repr=False, compare=False)
    inner: tuple[ast.Node, ...] = field(default=(), repr=False, compare=False)  # a DO block's statements
    after_previous: bool = False
    breaks_app: bool = False  # hand label: renames or drops something the running app uses

    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def summary(self, width: int = 70) -> str:
        text = " ".join(self.sql.split())
        return text if len(text) <= width else text[: width - 1] + "…"

    def nodes(self) -> tuple[ast.Node, ...]:
        return self.inner if isinstance(self.node, ast.DoStmt) else (self.node,)

    @property
    def shape(self) -> str:
        """What kind of statement it is, for breakdowns: ALTER TABLE's first subcommand, else the node."""
        node = self.node
        if isinstance(node, ast.AlterTableStmt) and node.cmds:
            return f"ALTER TABLE {node.cmds[0].subtype.name.removeprefix('AT_')}"
        if isinstance(node, ast.RenameStmt):
            return f"RENAME {node.renameType.name.removeprefix('OBJECT_')}"
        if isinstance(node, ast.DropStmt):
            return f"DROP {node.removeType.name.removeprefix('OBJECT_')}" + (" CONCURRENTLY" if node.concurrent else "")
        if isinstance(node, ast.IndexStmt):
            return "CREATE INDEX" + (" CONCURRENTLY" if node.concurrent else "")
        return type(node).__name__.removesuffix("Stmt")


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.glob("*.sql") if p != SCHEMA)


def read_corpus(path: Path) -> list[CorpusStatement]:
    """The statements of one corpus file, with the truth labels in the comments right above each."""
    text = path.read_text()
    lines = text.splitlines()
    found = []
    previous_end = 0
    for statement in parse_script(text):
        end = statement.line + statement.sql.count("\n")
        comments = [line.strip() for line in lines[previous_end: statement.line - 1]]
        found.append(CorpusStatement(
            file=path.name, line=statement.line, end_line=end, sql=statement.sql, node=statement.node,
            inner=statement.inner, after_previous=_AFTER_PREVIOUS in comments, breaks_app=_BREAKS_APP in comments))
        previous_end = end
    return found


def cases(statements: Iterable[CorpusStatement]) -> list[list[CorpusStatement]]:
    """Statements grouped as they run: each alone, or after the ones it is chained to."""
    grouped: list[list[CorpusStatement]] = []
    for statement in statements:
        if statement.after_previous and grouped:
            grouped[-1].append(statement)
        else:
            grouped.append([statement])
    return grouped


@dataclass
class Measured:
    """What one statement did, measured."""

    statement: CorpusStatement
    how: str                                  # "transaction" | "observed" | "error"
    locks: dict[str, str] = field(default_factory=dict)     # relation (an index: its table) -> strongest mode added
    rewritten: set[str] = field(default_factory=set)        # tables of the schema with new, non-empty storage
    indexed: set[str] = field(default_factory=set)          # tables of the schema that got an index built
    scanned: set[str] = field(default_factory=set)          # tables of the schema read through (rows read >= rows)
    written: dict[str, float | None] = field(default_factory=dict)  # table -> rows written in one transaction ÷ rows
    schema_tables: frozenset[str] = frozenset()             # relations of schema.sql (before the case)
    sampled_later: dict[str, str] = field(default_factory=dict)  # observed: seen after its first wait (not compared)
    error: str = ""

    @property
    def whole_table(self) -> set[str]:
        return {t for t, share in self.written.items() if share is not None and share >= WHOLE_TABLE}

    def risks(self) -> list[str]:
        """Why this statement is risky, from measured facts (empty: not risky). A table of the
        schema (it has rows and an app using it) is locked against the app's writes or more
        (SHARE or stronger) while work that grows with the table runs (a rewrite, an index
        build, a scan of every row); or one transaction writes at least WHOLE_TABLE of a
        table's rows (each stays locked until COMMIT); or (hand label) it renames or drops
        something the running app uses."""
        kinds = []
        blocking = {t for t, mode in self.locks.items()
                    if t in self.schema_tables and LOCK_MODES.index(mode) >= _WRITE_BLOCKING}
        if blocking & self.rewritten:
            kinds.append("rewrite under a write-blocking lock")
        elif blocking & self.indexed:
            kinds.append("index build under a write-blocking lock")
        elif blocking & self.scanned:
            kinds.append("scan under a write-blocking lock")
        if self.whole_table:
            kinds.append("whole-table write")
        if self.statement.breaks_app:
            kinds.append("breaks the running app (label)")
        return kinds


@dataclass
class Corpus:
    statements: list[CorpusStatement]
    measured: dict[CorpusStatement, Measured]
    indexes: dict[str, str]   # index (or owned sequence) name -> its table, in schema.sql
    seconds: float


def measure_corpus(cluster, files: Iterable[Path] | None = None) -> Corpus:
    """Measure every statement of the corpus on `cluster` (a gonogo_local.cluster.LocalCluster)."""
    started = time.perf_counter()
    files = list(files or corpus_files())
    statements = [s for path in files for s in read_corpus(path)]
    template = create_database(cluster, "lint_truth_schema")
    main = None
    try:
        with _connect(template) as conn:
            _run(conn, SCHEMA.read_text())
        main = create_database(cluster, "lint_truth", template=template)
        measured: dict[CorpusStatement, Measured] = {}
        with _connect(main) as conn:
            relations = _relations(conn)
            rows = _row_counts(conn, relations)
            indexes = {r.name: relations[r.table].name for r in relations.values() if r.table}
            for case in cases(statements):
                if len(case) == 1:
                    measured[case[0]] = _measure_case(conn, case, rows)[0]
        for case in cases(statements):
            if len(case) > 1:  # the earlier statements are committed: on a copy of its own
                scratch = create_database(cluster, "lint_truth_chain", template=template)
                try:
                    with _connect(scratch) as conn:
                        for m in _measure_case(conn, case, rows):
                            measured[m.statement] = m
                finally:
                    drop_database(cluster, scratch.dbname)
        for statement, m in list(measured.items()):
            if m.how == "observed":
                measured[statement] = _observe(cluster, template, statement, _case_of(statement, statements), rows)
        return Corpus(statements, measured, indexes, time.perf_counter() - started)
    finally:
        if main is not None:
            drop_database(cluster, main.dbname)
        drop_database(cluster, template.dbname)


def _connect(target) -> psycopg.Connection:
    conn = target.connect("lint-truth", guards=None)
    conn.execute("SET lock_timeout = '10s'")
    conn.execute("SET statement_timeout = '60s'")
    return conn


@dataclass(frozen=True)
class _Relation:
    oid: int
    name: str
    kind: str
    filenode: int
    table: int | None  # an index's table, or the table that owns a sequence (serial, identity)
    written: int
    read: int


def _relations(conn) -> dict[int, _Relation]:
    return {row[0]: _Relation(*row) for row in conn.execute(_RELATIONS).fetchall()}


def _own_locks(conn) -> set[tuple[int, str]]:
    return {(oid, mode) for oid, mode in conn.execute(_OWN_LOCKS).fetchall()}


def _row_counts(conn, relations: dict[int, _Relation]) -> dict[str, int]:
    """Rows in each table of the schema (every case starts from these)."""
    counts = {}
    for r in relations.values():
        if r.kind in ("r", "p"):
            counts[r.name] = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(r.name))).fetchone()[0]
    return counts


def _run(conn, text: str) -> None:
    """Send a statement as psql does (simple query protocol): a DO block that COMMITs needs it."""
    psycopg.ClientCursor(conn).execute(text)


def _case_of(statement: CorpusStatement, statements: list[CorpusStatement]) -> list[CorpusStatement]:
    return next(case for case in cases(statements) if statement in case)


def _measure_case(conn, case: list[CorpusStatement], rows: dict[str, int]) -> list[Measured]:
    """Measure each statement of a case in its own BEGIN … ROLLBACK; between two statements of
    a chained case, the earlier one is then run for real (autocommit, as the file runs it), so
    the later one is measured alone, with none of the earlier one's locks held. A statement
    that cannot run in a transaction block comes back as how="observed", for _observe."""
    results: list[Measured] = []
    schema = _relations(conn)
    schema_tables = frozenset(r.name for r in schema.values() if r.kind in ("r", "p", "m", "v", "S"))
    for position, statement in enumerate(case):
        if position:
            _run(conn, case[position - 1].sql)
        conn.execute("BEGIN")
        try:
            before, locks_before = _relations(conn), _own_locks(conn)
            try:
                _run(conn, statement.sql)
            except psycopg.Error as exc:
                how = "observed" if exc.sqlstate in _NOT_IN_BLOCK else "error"
                results.append(Measured(statement, how, schema_tables=schema_tables,
                                        error=f"{exc.sqlstate}: {str(exc).strip().splitlines()[0]}"))
                results += [Measured(s, "error", error="an earlier statement of its case failed")
                            for s in case[position + 1:]]
                break
            added = _own_locks(conn) - locks_before
            after = _relations(conn)
            m = Measured(statement, "transaction", schema_tables=schema_tables)
            m.locks = _locks_by_table(added, before)
            _storage(conn, m, before, after, schema)
            for oid, r in before.items():
                if r.name in rows and oid in after and rows[r.name] and r.name in schema_tables:
                    written = after[oid].written - r.written
                    if written:
                        m.written[r.name] = written / rows[r.name]
                    if after[oid].read - r.read >= rows[r.name]:
                        m.scanned.add(r.name)
            results.append(m)
        finally:
            conn.execute("ROLLBACK")
    return results


def _locks_by_table(added: set[tuple[int, str]], before: dict[int, _Relation]) -> dict[str, str]:
    """Strongest mode per relation that existed before the statement; an index counts for its table."""
    locks: dict[str, list[str]] = {}
    for oid, mode in added:
        relation = before.get(oid)
        if relation is None:
            continue  # created by the statement itself
        target = before[relation.table] if relation.table in before else relation
        locks.setdefault(target.name, []).append(normalize(mode))
    return {name: strongest(modes) for name, modes in locks.items()}


def _storage(conn, m: Measured, before: dict[int, _Relation], after: dict[int, _Relation],
             schema: dict[int, _Relation]) -> None:
    """Rewritten tables and built indexes, on relations of the schema. A table with new, empty
    storage was truncated, not rewritten (its indexes too); an index re-created on the storage
    of an index that existed before (ALTER COLUMN TYPE of a binary-coercible type keeps it) was
    not built."""
    truncated = set()
    for oid, r in after.items():
        old = before.get(oid)
        if r.kind in ("r", "p", "m") and oid in schema and old is not None and old.filenode != r.filenode:
            if conn.execute("SELECT pg_relation_size(%s)", (oid,)).fetchone()[0]:
                m.rewritten.add(r.name)
            else:
                truncated.add(oid)
    old_storage = {r.filenode for r in before.values()}
    for oid, r in after.items():
        old = before.get(oid)
        table = schema.get(r.table)
        if r.kind not in ("i", "I") or table is None or r.table in truncated:
            continue
        if (old is None and r.filenode not in old_storage) or (old is not None and old.filenode != r.filenode):
            m.indexed.add(table.name)


def _named_tables(statement: CorpusStatement) -> set[str]:
    names: set[str] = set()

    class Names(Visitor):
        def visit_RangeVar(self, ancestors, node):
            names.add(node.relname)

    for node in statement.nodes():
        Names()(node)
        if isinstance(node, ast.DropStmt):
            names.update(item[-1].sval for item in node.objects if isinstance(item, (list, tuple)))
    return names


def _observe(cluster, template, statement: CorpusStatement, case: list[CorpusStatement],
             rows: dict[str, int]) -> Measured:
    """Run a statement that cannot run in a transaction block as written, on a scratch copy,
    and watch its locks from a second session (see the module doc)."""
    scratch = create_database(cluster, "lint_truth_scratch", template=template)
    try:
        with _connect(scratch) as runner, _connect(scratch) as watcher:
            for earlier in case[: case.index(statement)]:
                _run(runner, earlier.sql)
            schema = _relations(watcher)
            schema_tables = frozenset(r.name for r in schema.values() if r.kind in ("r", "p", "m", "v", "S"))
            by_name = {r.name: r for r in schema.values()}
            tables = set()
            for name in _named_tables(statement):
                r = by_name.get(name)
                if r is not None:
                    tables.add(schema[r.table].name if r.table else r.name)
            tables = sorted(t for t in tables if by_name[t].kind in ("r", "p"))
            next_xid = watcher.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint").fetchone()[0]
            watcher.execute("BEGIN")
            for table in tables:
                watcher.execute(sql.SQL("LOCK TABLE {} IN ROW EXCLUSIVE MODE").format(sql.Identifier(table)))
                watcher.execute(sql.SQL("SELECT count(*) FROM (SELECT FROM {} FOR UPDATE) AS held")
                                .format(sql.Identifier(table)))
            pid = runner.info.backend_pid
            failure: list[BaseException] = []

            def run() -> None:
                try:
                    _run(runner, statement.sql)
                except BaseException as exc:  # reported below, the watcher must not hang
                    failure.append(exc)

            worker = threading.Thread(target=run)
            worker.start()
            seen: set[tuple[int, str]] = set()    # granted while it waits: the measurement
            later: set[tuple[int, str]] = set()   # sampled after the release: may miss short locks
            released, waited = False, False
            deadline = time.monotonic() + 60
            while worker.is_alive() and time.monotonic() < deadline:
                sample = watcher.execute(_LOCKS_OF, (pid,)).fetchall()
                granted = {(oid, mode) for oid, mode, is_granted, on_relation in sample if is_granted and on_relation}
                if released:
                    later |= granted
                elif any(not is_granted for _, _, is_granted, _ in sample):
                    waited = True
                    seen |= granted
                    watcher.execute("ROLLBACK")
                    released = True
                time.sleep(0.002)
            if not released:
                watcher.execute("ROLLBACK")
            worker.join(timeout=60)
            m = Measured(statement, "observed", schema_tables=schema_tables)
            if failure:
                m.how, m.error = "error", f"{type(failure[0]).__name__}: {failure[0]}"
                return m
            if not waited:
                m.error = "the statement never waited, so its locks were only sampled"
            after = _relations(watcher)
            m.locks = _locks_by_table(seen, schema)
            m.sampled_later = _locks_by_table(later - seen, schema)
            _storage(watcher, m, schema, after, schema)
            for table in tables:
                if rows.get(table):
                    m.written[table] = _most_rows_of_one_transaction(watcher, table, next_xid, statement)
            m.written = {t: share for t, share in m.written.items() if share != 0}
            return m
    finally:
        drop_database(cluster, scratch.dbname)


def _most_rows_of_one_transaction(conn, table: str, next_xid: int, statement: CorpusStatement) -> float | None:
    """The largest number of row versions one transaction wrote, ÷ rows; None where the rows are
    gone (a DELETE's)."""
    if any(isinstance(n, ast.DeleteStmt) and n.relation.relname == table for n in statement.nodes()):
        return None
    query = sql.SQL("SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM {} "
                    "WHERE xmin::text::bigint >= %s GROUP BY xmin::text) AS per_transaction")
    most = conn.execute(query.format(sql.Identifier(table)), (next_xid,)).fetchone()[0]
    total = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]
    return most / total if total else None


# -- what a tool says about a statement --------------------------------------------------------

def sql_file(path: Path):
    """A corpus file as gonogo hands it to the lint: run statement by statement, like psql -f."""
    return _as_sql_file(path, path.read_text())


def lint_corpus(files: Iterable[Path] | None = None) -> list:
    """gonogo's findings on every corpus statement, linted as it is measured: alone (a chained
    statement after the ones it follows), in an enabled schema step, knowing the schema it
    runs on (schema.sql), as gonogo knows production's from the batch's expected schema or
    the migrations the tool applied. One lint_files call: squawk runs once."""
    from gonogo.lint import FileToLint, KnownSchema, lint_files

    known = KnownSchema.of(parse_script(SCHEMA.read_text()))
    files = []
    for path in files_or_all(files):
        lines = path.read_text().splitlines(keepends=True)
        for group in cases(read_corpus(path)):
            kept = {n for s in group for n in range(s.line, s.end_line + 1)}
            # the other statements blanked: each line keeps its number, findings map back as they are
            text = "".join(line if n in kept else "\n" for n, line in enumerate(lines, start=1))
            files.append(FileToLint(_as_sql_file(path, text), "schema", True, False, path.name, (), known))
    return [f for found in lint_files(files) for f in found]


def files_or_all(files: Iterable[Path] | None) -> list[Path]:
    return list(files) if files else corpus_files()


def _as_sql_file(path: Path, text: str):
    from gonogo.postgres.sqlfile import SqlFile

    return SqlFile(path=path, text=text, statements=tuple(parse_script(text)), mode="statements")


def statement_at(statements: list[CorpusStatement], file: str, line: int) -> CorpusStatement | None:
    """The statement of `file` that holds `line` (a line between statements: the next one)."""
    in_file = [s for s in statements if s.file == file]
    for s in in_file:
        if s.line <= line <= s.end_line:
            return s
    return next((s for s in in_file if s.line >= line), None)
