"""The app's top queries found, not written: ranked in production's pg_stat_statements, given
real parameters from the staging copy, paced at the rate production ran them.

    found = top_statements(production_conn, limit=10)
    queries, left_out = with_parameters(found, staging_conn)
    # queries: gonogo.authoring.queries.Query, for plans.measure and gonogo.rehearsal.workload.Workload
    # left_out: "select_orders_1a2b3c: no value found for $3 (in date_trunc($3, ...), type text)"

pg_stat_statements keeps each statement with its constants as $1..$n. Each $n gets values that
exist in the data: read from where the parse tree puts it (gonogo.authoring.paramrefs) and sampled from
the table on staging, the $n of one table reference from one sampled row, so that a lookup by
company AND recipe finds rows. Every parameter set is tried once on staging, in a transaction
that is rolled back; a query none of whose sets runs is left out, with the reason.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, NamedTuple

import psycopg
from psycopg import sql

from gonogo.authoring import paramrefs
from gonogo.errors import NotMeasured
from gonogo.authoring.paramrefs import Relation, Statement, Use, read_statement
from gonogo.authoring.queries import Query
from gonogo.results import GateResult, Verdict
from gonogo.postgres.rowcounts import count_statement
from gonogo.postgres.sqlfile import query, with_placeholders

_SQL = "discover.sql"
# Statements read from pg_stat_statements to find `limit` of the app's: gonogo's own and the
# catalog's are skipped on the way, and a few hundred parse in well under a second.
_SCAN = 500
_ROWS_READ = 5000  # at most, from the sampled pages of one table
_TRIAL_TIMEOUT = "2s"  # a query slower than this on staging still proved its parameters fit
_DEFAULT_LIMIT = 20
# A value for a $n that stands against no column, by the type the server infers for it. Text
# has no value that fits every place (date_trunc wants 'day', a name wants a name): none.
_TYPICAL: dict[str, Any] = {"smallint": 1, "integer": 1, "bigint": 1, "numeric": 1, "real": 1.0,
                            "double precision": 1.0, "boolean": True, "interval": timedelta(days=1)}


@dataclass(frozen=True)
class Found:
    """One of the app's statements as production's pg_stat_statements has it, summed over the
    roles that ran it. rate: calls per second since `since`, which is the last reset of
    pg_stat_statements (since_source "pg_stat_statements_info.stats_reset", PostgreSQL 14+) or
    else the server's start ("pg_postmaster_start_time()"): an average over that whole window."""

    name: str
    queryid: int
    text: str  # normalized: constants as $1..$n
    verb: str
    writes: bool
    relations: tuple[Relation, ...]
    calls: int
    total_ms: float
    mean_ms: float
    rows: int
    rate: float
    since: datetime
    since_source: str


class Parameterized(NamedTuple):
    queries: list[Query]
    left_out: list[str]  # "<name>: <why>", one per statement left out


class _NoValue(Exception):
    """A statement cannot be given parameters; the message says which $n and why."""


def top_statements(production_conn: psycopg.Connection, *, limit: int = 10,
                   history: tuple[str, ...] = ("gonogo.",)) -> list[Found]:
    """The app's `limit` statements of the current database that took most execution time in
    all (seed: "top 10 queries by latency"). Total time ranks by the share of the server a
    statement takes, calls x mean: a 2 ms lookup run 100 times a second weighs more than a 2 s
    report run twice a day, and it is the one a migration's lock wait stalls most often.
    Only SELECT, INSERT, UPDATE and DELETE on the app's tables; not gonogo's own row counts.
    Raises NotMeasured when pg_stat_statements cannot be read, or hides statements from this
    role (a ranking without them would pretend). history: migration history ("schema." or
    "schema.table", Batch.history_objects), whose reads are the tools', not the app's."""
    view = production_conn.execute(query(_SQL, "statements_view")).fetchone()
    if view is None:
        raise NotMeasured(f"pg_stat_statements is not installed in database {production_conn.info.dbname}: "
                          f"CREATE EXTENSION pg_stat_statements there (the server also needs "
                          f"shared_preload_libraries = 'pg_stat_statements')")
    schema, has_info, has_toplevel = view
    since, seconds, source = _window(production_conn, schema, has_info)
    apps = _apps(production_conn, _ranked(production_conn, schema, has_toplevel), history)
    return [Found(name=_name(statement, queryid), queryid=queryid, text=text, verb=statement.verb,
                  writes=statement.writes, relations=statement.relations, calls=calls, total_ms=total_ms,
                  mean_ms=total_ms / calls, rows=rows, rate=calls / seconds if seconds > 0 else 0.0,
                  since=since, since_source=source)
            for statement, (queryid, text, calls, total_ms, rows) in apps[:limit]]


def with_parameters(found: Sequence[Found], staging_conn: psycopg.Connection, *,
                    sample: int = 10, limit: int | None = None) -> Parameterized:
    """Each found statement as a Query with up to `sample` parameter sets sampled on staging
    (params is the first; writes and rate carried over), and the statements left out with why;
    with a `limit`, the first that many that run (one left out makes room for the next)."""
    catalog = _Catalog(staging_conn)
    queries, left_out = [], []
    for statement in found:
        if limit is not None and len(queries) >= limit:
            break
        try:
            queries.append(_parameterized(staging_conn, catalog, statement, sample))
        except _NoValue as exc:
            left_out.append(f"{statement.name}: {exc}")
    return Parameterized(queries, left_out)


# -- ranking -------------------------------------------------------------------------------


def _window(conn: psycopg.Connection, schema: str, has_info: bool) -> tuple[datetime, float, str]:
    if has_info:
        statement = sql.SQL(query(_SQL, "stats_reset")).format(
            info=sql.Identifier(schema, "pg_stat_statements_info"))
        since, seconds = conn.execute(statement).fetchone()
        return since, seconds, "pg_stat_statements_info.stats_reset"
    since, seconds = conn.execute(query(_SQL, "server_start")).fetchone()
    return since, seconds, "pg_postmaster_start_time()"


def _ranked(conn: psycopg.Connection, schema: str, has_toplevel: bool) -> list[tuple]:
    statement = sql.SQL(query(_SQL, "ranked_statements")).format(
        statements=sql.Identifier(schema, "pg_stat_statements"),
        toplevel=sql.SQL("toplevel" if has_toplevel else "true"))
    try:
        ranked = conn.execute(statement, {"scan": _SCAN}).fetchall()
    except psycopg.errors.ObjectNotInPrerequisiteState as exc:  # installed, but not preloaded
        raise NotMeasured(f"pg_stat_statements cannot be read: {exc.diag.message_primary}") from None
    if hidden := sum(text == "<insufficient privilege>" for _, text, *_ in ranked):
        raise NotMeasured(f"pg_stat_statements hides {hidden} statements of other roles from "
                          f"{conn.info.user}: grant it pg_read_all_stats")
    return ranked


def _apps(conn: psycopg.Connection, ranked: list[tuple], history: tuple[str, ...]) -> list[tuple[Statement, tuple]]:
    """The app's statements among the ranked rows, in rank order, each with its row."""
    parsed = []
    for row in ranked:
        try:
            parsed.append((read_statement(row[1]), row))
        except ValueError:
            continue  # not one SELECT, INSERT, UPDATE or DELETE (EXPLAIN, SET, DDL), or unparsable
    resolved = _resolved(conn, {r for statement, _ in parsed for r in statement.relations}, history)
    # no table (SELECT set_config(...)), or one not the app's (catalogs, gonogo's schema,
    # temporary tables, pg_stat_statements itself), or gonogo's own row count: not the app
    return [(statement, row) for statement, row in parsed
            if statement.relations and all(resolved[r][2] for r in statement.relations)
            and not _gonogos_count(conn, row[1], statement)]


def _resolved(conn: psycopg.Connection, relations: set[Relation],
              history: tuple[str, ...] = ("gonogo.",)) -> dict[Relation, tuple[int | None, str | None, bool]]:
    """{relation: (oid, schema, is the app's)}, as the session resolves each name."""
    listed = sorted(relations, key=lambda r: (r[0] or "", r[1]))
    rows = conn.execute(query(_SQL, "relations"), {
        "schemas": [s for s, _ in listed], "names": [n for _, n in listed],
        "history_schemas": [h[:-1] for h in history if h.endswith(".")],
        "history_tables": [h for h in history if not h.endswith(".")]}).fetchall()
    return {(schema, name): (oid, nspname, is_app) for schema, name, oid, nspname, is_app in rows}


def _gonogos_count(conn: psycopg.Connection, text: str, statement: Statement) -> bool:
    """gonogo's own row count (rowcounts.count_rows), which it also runs on production."""
    if len(statement.relations) != 1 or statement.relations[0][0] is None:
        return False
    return text == count_statement(*statement.relations[0]).as_string(conn)


def _name(statement: Statement, queryid: int) -> str:
    """<verb>_<first table>_<6 hex digits of the queryid>: readable, and stable while
    production keeps its statements."""
    table = "".join(c if c.isalnum() else "_" for c in statement.relations[0][1].lower())
    return f"{statement.verb}_{table}_{queryid & 0xFFFF_FFFF_FFFF_FFFF:016x}"[:-10]


# -- parameters ----------------------------------------------------------------------------


class _Catalog:
    """Staging's tables as the statements name them, each read once."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn
        self._tables: dict[Relation, tuple[str | None, list[tuple]]] = {}

    def _rows(self, relation: Relation) -> list[tuple]:
        return self._table(relation)[1]

    def _table(self, relation: Relation) -> tuple[str | None, list[tuple]]:
        """(schema, column rows) of the table the name resolves to on staging; (None, []) if none."""
        if relation not in self._tables:
            oid, schema, _ = _resolved(self.conn, {relation})[relation]
            columns = self.conn.execute(query(_SQL, "table_columns"), {"oid": oid}).fetchall() if oid else []
            self._tables[relation] = (schema, columns)
        return self._tables[relation]

    def columns(self, relation: Relation) -> list[str]:
        return [name for name, *_ in self._rows(relation)]

    def unique_alone(self, relation: Relation) -> set[str]:
        return {name for name, unique, *_ in self._rows(relation) if unique}

    def pages(self, relation: Relation) -> int:
        rows = self._rows(relation)
        return rows[0][2] if rows else 0

    def table(self, relation: Relation) -> sql.Identifier:
        schema, rows = self._table(relation)
        if not rows:
            raise _NoValue(f"table {'.'.join(filter(None, relation))} does not exist on staging")
        return sql.Identifier(schema, relation[1])


def _parameterized(conn: psycopg.Connection, catalog: _Catalog, found: Found, sample: int) -> Query:
    statement = read_statement(found.text, columns_of=catalog.columns)
    if not statement.spans:  # as hand-written: without parameters, psycopg takes the text as it is
        _working(conn, found.text, [{}])
        return Query(found.name, found.text, rate=found.rate, writes=statement.writes)
    text = with_placeholders(found.text, [(start, end, f"%(p{n})s") for n, start, end in statement.spans])
    working = _working(conn, text, _candidate_sets(conn, catalog, found, statement, sample))
    return Query(found.name, text, working[0], rate=found.rate, writes=statement.writes,
                 param_sets=tuple(working))


def _candidate_sets(conn: psycopg.Connection, catalog: _Catalog, found: Found, statement: Statement,
                    sample: int) -> list[dict]:
    """`sample` parameter sets; set i takes row i of each table reference's sample."""
    by_row: dict[tuple, list[Use]] = defaultdict(list)
    for use in statement.uses.values():
        if use.role in paramrefs.ROW_ROLES:
            by_row[use.row].append(use)
    reasons, samples = [], {}
    for row, uses in by_row.items():
        samples[row] = _Sample.of(conn, catalog, row, uses, size=max(4 * sample, 20), seed=found.queryid)
        if not samples[row].rows:
            table = ".".join(filter(None, uses[0].relation))
            reasons += [f"no value found for ${u.number} ({u.context}): no row of {table} on staging has one"
                        for u in uses]
    typed = [u for u in statement.uses.values() if u.role == paramrefs.TYPED]
    types = _inferred_types(conn, found.text) if typed else {}
    reasons += [f"no value found for ${u.number} ({u.context}, type {types.get(u.number, 'unknown')})"
                for u in typed if _typical(types.get(u.number)) is None]
    if reasons:
        raise _NoValue("; ".join(reasons))
    limit = max(1, math.ceil(found.rows / found.calls)) if found.calls else _DEFAULT_LIMIT
    fresh = _Fresh(conn, catalog)
    return [{f"p{use.number}": _value(use, samples, i, limit, types, fresh)
             for use in statement.uses.values()} for i in range(sample)]


def _value(use: Use, samples: dict, i: int, limit: int, types: dict[int, str], fresh: _Fresh) -> Any:
    """The value of one $n in parameter set i, by where it stands."""
    if use.role == paramrefs.LIMIT:
        return limit  # pg_stat_statements' rows per call: what production's LIMIT gave back
    if use.role == paramrefs.OFFSET:
        return 0  # the first page, the one every listing shows
    if use.role == paramrefs.TYPED:
        return _typical(types.get(use.number))
    if use.role == paramrefs.SAME:
        return "1"  # sent untyped: the server reads it as whatever the two sides are (1 = 1, '1' = '1')
    taken = samples[use.row]
    value = taken.value(use, i)
    if use.role == paramrefs.INSERTED and use.column in fresh.unique(use.relation):
        return fresh.value(use, value, i)
    if use.role == paramrefs.LOWER:
        return taken.neighbour(use, value, below=True)
    if use.role == paramrefs.UPPER:
        return taken.neighbour(use, value, below=False)
    if use.role == paramrefs.LIKE:
        return _pattern(value)
    if use.role == paramrefs.IN:
        return taken.others(use, value, use.position + 1)[use.position]
    if use.role == paramrefs.ANY:
        return taken.others(use, value, 3)
    return value


@dataclass
class _Sample:
    """Rows sampled from one table reference: each row holds the value of every column or
    expression its parameters stand against, in `sources` order."""

    sources: list[tuple[str | None, str | None]]  # (column, expression)
    rows: list[tuple]

    @classmethod
    def of(cls, conn: psycopg.Connection, catalog: _Catalog, row: tuple[int, str], uses: list[Use],
           size: int, seed: int) -> _Sample:
        relation, alias = uses[0].relation, row[1]
        sources = list(dict.fromkeys((u.column, u.expression) for u in uses))
        compared = list(dict.fromkeys((u.column, u.expression) for u in uses if u.role in paramrefs.COMPARED))
        expressions = [_source_sql(alias, source) for source in sources]
        present = sql.SQL(" AND ").join(sql.SQL("({}) IS NOT NULL").format(_source_sql(alias, s)) for s in compared)
        statement = sql.SQL(query(_SQL, "sample_rows")).format(
            values=sql.SQL(", ").join(expressions), table=catalog.table(relation), alias=sql.Identifier(alias),
            present=present if compared else sql.SQL("true"))
        # About `size` pages, all their rows, and `size` rows picked among them: rows spread over
        # the table, not the neighbours on one page. Too few (a table smaller than it says, values
        # mostly NULL): read on from the start, where LIMIT stops the scan.
        pages = catalog.pages(relation)
        percent = min(100.0, 100.0 * size / pages) if pages > 0 else 100.0
        rows = _sampled(conn, statement, percent, seed)
        if len(rows) < size and percent < 100.0:
            rows = _sampled(conn, statement, 100.0, seed)
        random.Random(seed).shuffle(rows)
        return cls(sources, rows[:size])

    def value(self, use: Use, i: int) -> Any:
        return self.rows[i % len(self.rows)][self._index(use)]

    def neighbour(self, use: Use, value: Any, *, below: bool) -> Any:
        """The sampled value next below (or above) `value`: a range around a row that exists,
        as narrow as the sample is dense; the value itself at an edge."""
        index = self._index(use)
        try:
            others = [r[index] for r in self.rows if (r[index] < value if below else r[index] > value)]
            return (max if below else min)(others, default=value)
        except TypeError:  # values that do not order (json): the row's own
            return value

    def others(self, use: Use, value: Any, count: int) -> list:
        """`value` and up to count - 1 other sampled values of its column, repeated if too few."""
        index = self._index(use)
        distinct = _distinct([value, *(r[index] for r in self.rows)])
        return [distinct[k % len(distinct)] for k in range(count)]

    def _index(self, use: Use) -> int:
        return self.sources.index((use.column, use.expression))


def _source_sql(alias: str, source: tuple[str | None, str | None]) -> sql.Composable:
    column, expression = source
    if column is not None:
        return sql.Identifier(alias, column)
    return sql.SQL(expression.replace("%", "%%"))  # the app's own SQL, as pglast printed it


def _sampled(conn: psycopg.Connection, statement: sql.Composed, percent: float, seed: int) -> list[tuple]:
    try:
        with conn.transaction():  # a savepoint where the caller's session is inside a transaction
            rows = conn.execute(statement, {"percent": percent, "seed": seed % 2**31, "rows": _ROWS_READ}).fetchall()
    except psycopg.Error as exc:
        raise _NoValue(f"its values cannot be sampled on staging: {exc.diag.message_primary or exc}") from None
    return _distinct(rows)


def _distinct(values: list) -> list:
    """values without repeats, in order; by repr, as json values (dicts) do not hash."""
    return list({repr(v): v for v in values}.values())


class _Fresh:
    """New values for a column that is unique on its own: an INSERT of an existing row's value
    there would fail on the unique index, not show the app's insert."""

    def __init__(self, conn: psycopg.Connection, catalog: _Catalog):
        self.conn, self.catalog = conn, catalog

    def unique(self, relation: Relation) -> set[str]:
        return self.catalog.unique_alone(relation)

    def value(self, use: Use, like: Any, i: int) -> Any:
        if isinstance(like, uuid.UUID):
            return uuid.uuid4()
        if isinstance(like, int) and not isinstance(like, bool):
            statement = sql.SQL(query(_SQL, "column_max")).format(
                column=sql.Identifier(use.column), table=self.catalog.table(use.relation))
            return self.conn.execute(statement).fetchone()[0] + 1 + i
        if isinstance(like, str):
            return f"{like}-{uuid.uuid4().hex[:8]}"
        return like  # the trial run tells whether it fits


def _pattern(value: Any) -> str:
    """%<a few characters from the middle of value>%: a pattern that matches the row it came
    from, with LIKE's own wildcards in it escaped."""
    text = str(value)
    middle = max(0, len(text) // 2 - 2)
    core = text[middle: middle + 4]
    return "%" + core.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _typical(type_name: str | None) -> Any:
    if type_name == "date":
        return date.today()
    if type_name == "timestamp without time zone":
        return datetime.now()
    if type_name == "timestamp with time zone":
        return datetime.now(timezone.utc)
    return _TYPICAL.get(type_name)


def _inferred_types(conn: psycopg.Connection, text: str) -> dict[int, str]:
    """{n: type of $n} as the server infers it for the statement (PREPARE, then DEALLOCATE)."""
    name = f"gonogo_discover_{uuid.uuid4().hex[:12]}"
    try:
        with conn.transaction():
            conn.execute(sql.SQL(query(_SQL, "prepare")).format(name=sql.Identifier(name), statement=sql.SQL(text)))
    except psycopg.Error as exc:
        raise _NoValue(f"staging cannot prepare it: {exc.diag.message_primary or exc}") from None
    try:
        types = conn.execute(query(_SQL, "parameter_types"), {"name": name}).fetchone()[0]
    finally:
        conn.execute(sql.SQL(query(_SQL, "deallocate")).format(name=sql.Identifier(name)))
    return {n: t for n, t in enumerate(types, start=1)}


def _working(conn: psycopg.Connection, text: str, sets: list[dict]) -> list[dict]:
    """The distinct sets that run on staging, those that return or change rows first; _NoValue
    with the first error if none does."""
    kept: dict[str, tuple[bool, dict]] = {}
    first_error = None
    for params in sets:
        key = repr(sorted(params.items()))
        if key in kept:
            continue
        error, rows = _trial(conn, text, params)
        if error is None:
            kept[key] = (rows == 0, params)
        first_error = first_error or error
    if not kept:
        raise _NoValue(f"no parameter set runs on staging: {first_error}")
    return [params for _, params in sorted(kept.values(), key=lambda k: k[0])]


def _trial(conn: psycopg.Connection, text: str, params: dict) -> tuple[str | None, int | None]:
    """(error, rows) of one run in a transaction that is rolled back: a write leaves nothing."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(query(_SQL, "trial_timeout"), {"timeout": _TRIAL_TIMEOUT})
            return None, conn.execute(text, params or None, prepare=False).rowcount
    except psycopg.errors.QueryCanceled:
        return None, None  # slow, but the server took the parameters
    except psycopg.Error as exc:
        return f"{exc.diag.message_primary or exc} (SQLSTATE {exc.sqlstate})", 0


_CANDIDATES = 3  # statements ranked per one the workload keeps


def workload(production_conn: psycopg.Connection, staging_conn: psycopg.Connection, *, limit: int = 10,
             phase: str = "dry_run", history: tuple[str, ...] = ("gonogo.",)) -> tuple[list[Query], GateResult]:
    """The app's top statements on production with parameters found on staging, and the gate
    that says what was found, at what rate, and what was left out and why. Nothing found is a
    WARN with the reason (not measured is never a pass)."""
    title = "The app's workload found on production"
    threshold = f"production's top {limit} statements (pg_stat_statements), each with parameters from the data"
    try:
        # more than `limit` candidates: a one-off statement staging cannot run (a bulk load's
        # generate_series) leaves room for the app's next one instead of shrinking the workload
        found = top_statements(production_conn, limit=limit * _CANDIDATES, history=history)
    except NotMeasured as exc:
        return [], GateResult(gate="workload", title=title, phase=phase, verdict=Verdict.WARN, value="not measured",
                              threshold=threshold, message=f"no app workload: {exc}",
                              hint="without it the dry run measures no plans and no lock waits of the app")
    queries, left_out = with_parameters(found, staging_conn, limit=limit)
    found = found[:len(queries) + len(left_out)]  # the candidates tried
    rate = sum(q.rate or 0 for q in queries)
    since = found[0].since_source if found else ""
    rows = [{"query": q.name, "calls_per_second": round(q.rate or 0, 2), "writes": q.writes,
             "parameter_sets": len(q.param_sets) or 1, "sql": " ".join(q.sql.split())[:300]} for q in queries]
    rows += [{"query": why.split(":", 1)[0], "left_out": why} for why in left_out]
    verdict = Verdict.PASS if queries and not left_out else Verdict.WARN
    return queries, GateResult(
        gate="workload", title=title, phase=phase, subject="production", verdict=verdict,
        value=f"{len(queries)} of {len(found)} statements, {rate:.1f} calls/s", threshold=threshold,
        message=(f"{len(queries)} statements with parameters sampled from the data, run at production's rate "
                 f"(since {since}); writes rolled back" if queries else "no statement of the app was found")
                + (f"; left out: {'; '.join(left_out[:3])}" if left_out else ""),
        hint="" if verdict is Verdict.PASS else "name the app's queries in the manifest (top_queries, query_params) "
                                                "for the ones gonogo cannot find values for",
        details=rows)
