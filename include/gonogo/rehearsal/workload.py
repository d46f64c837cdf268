"""The app's traffic, played by gonogo: its top queries, round-robin, from several clients.

While a migration runs on staging, this is what the app would have sent; the lock trace
watches these sessions (by their backend pids) for lock waits. Like the app, each client is
its own autocommit session, so it holds no lock between queries. Database errors are
counted and the first one per query kept, never raised; a broken connection is reopened.
A query that writes runs in a transaction that is rolled back (row counts stay as they were);
a query with a rate (calls/s measured on production) runs at that pace, not as fast as it can;
a query with param_sets takes them in turn.

    with Workload(staging, batch.queries, clients=2) as workload:
        ...  # run a migration
    workload.stats.table()
"""

from __future__ import annotations

import collections
import dataclasses
import math
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import pq
from psycopg.conninfo import make_conninfo

from gonogo.errors import GonogoError
from gonogo.authoring.queries import Query
from gonogo.postgres.target import SessionGuards, Target

# params(query, i): the parameters of the i-th execution of a query (default: its param_sets
# in turn, or query.params).
Params = Callable[[Query, int], Mapping[str, Any]]

_CONNECT_WAIT_SECONDS = 15.0


@dataclass
class QueryStats:
    """One query's executions; latencies cover failed calls too (a lock wait is felt either way)."""

    calls: int = 0
    errors: int = 0
    first_error: str | None = None
    durations_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def mean_ms(self) -> float:
        return sum(self.durations_ms) / len(self.durations_ms) if self.durations_ms else 0.0

    @property
    def max_ms(self) -> float:
        return max(self.durations_ms, default=0.0)

    @property
    def p99_ms(self) -> float:
        if not self.durations_ms:
            return 0.0
        ordered = sorted(self.durations_ms)
        return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]

    def record(self, ms: float, error: str | None) -> None:
        self.calls += 1
        self.durations_ms.append(ms)
        if error is not None:
            self.errors += 1
            if self.first_error is None:
                self.first_error = error

    def copy(self) -> QueryStats:
        return QueryStats(self.calls, self.errors, self.first_error, list(self.durations_ms))


@dataclass(frozen=True)
class Call:
    """One execution, kept with keep_calls=True: started is its time.monotonic() at the start,
    so it can be set against a window measured with the same clock."""

    query: str
    started: float
    ms: float
    error: str | None = None


@dataclass
class WorkloadStats:
    """Per-query stats of one run, and its totals."""

    queries: dict[str, QueryStats]
    seconds: float
    clients: int

    @property
    def calls(self) -> int:
        return sum(q.calls for q in self.queries.values())

    @property
    def errors(self) -> int:
        return sum(q.errors for q in self.queries.values())

    @property
    def qps(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else 0.0

    def table(self) -> str:
        """A plain-text table, one line per query and a total."""
        width = max(len(name) for name in [*self.queries, "total"])
        lines = [f"{'query':<{width}}  {'calls':>7}  {'errors':>6}  {'mean_ms':>8}  {'p99_ms':>8}  {'max_ms':>8}"]
        for name, q in self.queries.items():
            lines.append(f"{name:<{width}}  {q.calls:>7}  {q.errors:>6}  {q.mean_ms:>8.2f}  "
                         f"{q.p99_ms:>8.2f}  {q.max_ms:>8.2f}")
        lines.append(f"{'total':<{width}}  {self.calls:>7}  {self.errors:>6}  "
                     f"({self.clients} clients, {self.seconds:.1f}s, {self.qps:.0f} queries/s)")
        return "\n".join(lines)

    def to_details(self) -> list[dict[str, Any]]:
        """One row per query, for GateResult.details."""
        return [{"query": name, "calls": q.calls, "errors": q.errors, "mean_ms": round(q.mean_ms, 2),
                 "p99_ms": round(q.p99_ms, 2), "max_ms": round(q.max_ms, 2), "first_error": q.first_error}
                for name, q in self.queries.items()]


class Workload:
    """Run `queries` round-robin on `clients` threads, each its own autocommit session named
    gonogo/<app>, from __enter__ until __exit__ (or until each client ran `rounds` rounds).

    target: a Target, or a libpq connection string. guards: session timeouts for the clients;
    None (the default) sends the queries as the app does, so that a lock wait lasts as long as
    the app would wait. application_name replaces gonogo/<app> where the traffic stands for
    another program. Client c runs its i-th round with params(query, i * clients + c).
    think_seconds: each client's pause after a round. 0 hammers the server, which is what a test
    of lock waits wants; an app in the background of a whole run wants a pause, or it takes the
    cores that the measurements on the same machine need.
    A query with a rate runs at most `rate` times a second across all clients: a round runs
    it only when it is due (its params index i is then its own count of runs), and a round
    that runs nothing, every query paced and none due, waits for the next and does not count.
    keep_calls: also keep every execution as a Call (Workload.calls), for a measurement that
    needs the calls of one window rather than the whole run's stats.
    commit_writes: writes commit, as the app's own do (a stand-in for the app on production,
    whose rollbacks the watch window counts); by default they are rolled back (gonogo's
    rehearsal traffic on staging, whose row counts the gates compare).
    max_busy_sessions: scale the paced queries down while they keep more than this much of one
    session busy (see _Pacer); None: their rates as they are.
    """

    def __init__(self, target: Target | str, queries: Sequence[Query], clients: int = 2,
                 app: str = "workload", *, guards: SessionGuards | None = None,
                 application_name: str | None = None, rounds: int | None = None,
                 params: Params | None = None, think_seconds: float = 0.0, keep_calls: bool = False,
                 commit_writes: bool = False, max_busy_sessions: float | None = None):
        if clients < 1:
            raise ValueError("clients must be at least 1")
        if not queries:
            raise ValueError("a workload needs at least one query")
        self.queries = tuple(queries)
        self.clients = clients
        self.rounds = rounds
        self.think_seconds = think_seconds
        self.keep_calls = keep_calls
        self.commit_writes = commit_writes
        self._params: Params = params or _param_sets
        self._connect = _connector(target, app, application_name, guards)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._stats = {q.name: QueryStats() for q in self.queries}
        self._calls: list[Call] = []
        self._pids: set[int] = set()
        self._live: dict[int, psycopg.Connection] = {}
        self._ready = [threading.Event() for _ in range(clients)]
        self._threads: list[threading.Thread] = []
        self.max_busy_sessions = max_busy_sessions
        self._pacer = _Pacer(self.queries, time.monotonic(), max_busy_sessions)  # made again at start()
        self._started: float | None = None
        self._stopped: float | None = None

    def __enter__(self) -> Workload:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        """Start the clients; returns once each has its session (or failed to get one)."""
        self._started = time.monotonic()
        self._pacer = _Pacer(self.queries, self._started, self.max_busy_sessions)
        self._threads = [threading.Thread(target=self._client, args=(n,), name=f"workload-{n}", daemon=True)
                         for n in range(self.clients)]
        for thread in self._threads:
            thread.start()
        deadline = time.monotonic() + _CONNECT_WAIT_SECONDS
        for ready in self._ready:
            ready.wait(max(0.0, deadline - time.monotonic()))

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every client ran its rounds, at most `timeout` seconds; True if they did."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def stop(self) -> None:
        """Stop every client now: a query still running is cancelled (and not counted)."""
        self._stop.set()
        while any(thread.is_alive() for thread in self._threads):
            with self._lock:
                live = list(self._live.values())
            for conn in live:
                try:
                    conn.cancel_safe(timeout=2)
                except Exception:  # noqa: BLE001 - the session may be closing meanwhile
                    pass
            for thread in self._threads:
                thread.join(0.05)
        if self._stopped is None:
            self._stopped = time.monotonic()

    @property
    def busy_scale(self) -> float:
        """The lowest factor the busy budget put on the paced rates (1.0: it never had to)."""
        return self._pacer.lowest_scale

    @property
    def pids(self) -> set[int]:
        """Backend pids of every session the clients opened (a reconnect adds one)."""
        with self._lock:
            return set(self._pids)

    @property
    def calls(self) -> list[Call]:
        """Every execution so far, in the order they ended (empty unless keep_calls)."""
        with self._lock:
            return list(self._calls)

    @property
    def stats(self) -> WorkloadStats:
        """Per-query stats so far (or of the whole run once stopped)."""
        with self._lock:
            queries = {name: q.copy() for name, q in self._stats.items()}
        end = self._stopped or time.monotonic()
        return WorkloadStats(queries=queries, seconds=end - (self._started or end), clients=self.clients)

    def _client(self, number: int) -> None:
        conn: psycopg.Connection | None = None
        count = len(self.queries)
        round_ = 0
        try:
            while self.rounds is None or round_ < self.rounds:
                ran = False
                for k in range(count):
                    if self._stop.is_set():
                        return
                    query = self.queries[(number + k) % count]
                    turn = self._pacer.claim(query, default=round_ * self.clients + number)
                    if turn is None:
                        continue  # paced, and not due yet
                    ran = True
                    began = time.monotonic()
                    error = None
                    try:
                        if conn is None or conn.closed:
                            conn = self._open(number)
                        _execute(conn, query, self._params(query, turn), self.commit_writes)
                    except (psycopg.Error, GonogoError) as exc:
                        if self._stop.is_set():
                            return  # cancelled on the way out: not something the app felt
                        error = str(exc).strip() or type(exc).__name__
                    ms = (time.monotonic() - began) * 1000
                    self._pacer.took(query, ms / 1000)
                    with self._lock:
                        self._stats[query.name].record(ms, error)
                        if self.keep_calls:
                            self._calls.append(Call(query.name, began, ms, error))
                    if error is not None and (conn is None or conn.closed):
                        self._stop.wait(0.05)  # the server is unreachable: do not spin
                if not ran:
                    self._stop.wait(self._pacer.until_due())
                    continue
                round_ += 1
                if self.think_seconds:
                    self._stop.wait(self.think_seconds)
        finally:
            self._ready[number].set()
            with self._lock:
                self._live.pop(number, None)
            if conn is not None:
                conn.close()

    def _open(self, number: int) -> psycopg.Connection:
        try:
            conn = self._connect()
            with self._lock:
                self._pids.add(conn.info.backend_pid)
                self._live[number] = conn
            return conn
        finally:
            self._ready[number].set()  # start() waits for this: a session, or the error why not


@dataclass(frozen=True)
class Paced:
    """The queries with the rates the workload keeps; scale: the factor the cap put on every
    rate (1.0: production's rates as they are)."""

    queries: tuple[Query, ...]
    scale: float
    sources: dict[str, str]  # query -> where its rate came from: manifest, production, default

    @property
    def calls_per_second(self) -> float:
        return sum(q.rate or 0.0 for q in self.queries)

    def describe(self) -> str:
        counts = {s: list(self.sources.values()).count(s) for s in dict.fromkeys(self.sources.values())}
        capped = f", scaled ×{self.scale:.2g} to the cap" if self.scale < 1 else ""
        return (f"{self.calls_per_second:.1f} calls/s over {len(self.queries)} queries "
                f"({', '.join(f'{n} {s}' for s, n in counts.items())} rates{capped})")


def paced(queries: Sequence[Query], *, rates: Mapping[str, float] | None = None, default: float = 10.0,
          cap: float = 200.0) -> Paced:
    """Every query with a rate, so that none runs in a closed loop: the given rate (the
    manifest's), else its own (production's, measured in pg_stat_statements), else `default`.
    When they add up to more than `cap` calls/s, each is scaled by the same factor: the mix stays
    production's, the total stays what staging can take beside the migration. A closed loop is a
    load test, not the app: measured on staging, a whole-table UPDATE took 200 s under one and
    75 s without (tests/bench/test_bench_dryrun_cost.py measures the dry run's cost)."""
    rates = rates or {}
    chosen, sources = {}, {}
    for q in queries:
        if rates.get(q.name):
            chosen[q.name], sources[q.name] = float(rates[q.name]), "manifest"
        elif q.rate:
            chosen[q.name], sources[q.name] = q.rate, "production"
        else:
            chosen[q.name], sources[q.name] = default, "default"
    total = sum(chosen.values())
    scale = min(1.0, cap / total) if total > 0 else 1.0
    return Paced(tuple(dataclasses.replace(q, rate=chosen[q.name] * scale) for q in queries), scale, sources)


def _param_sets(query: Query, i: int) -> Mapping[str, Any]:
    return query.param_sets[i % len(query.param_sets)] if query.param_sets else query.params


def _execute(conn: psycopg.Connection, query: Query, params: Mapping[str, Any], commit: bool = False) -> None:
    """One execution; a write in a transaction that is rolled back: staging's row counts are
    compared before and after each migration, and the workload must not be what changed them.
    The write goes as one message, BEGIN; it; ROLLBACK, its values bound on the client: the
    session is never idle inside that transaction (it would hold the write's locks while idle,
    which the app's autocommit sessions never do)."""
    if query.writes and not commit:
        text = psycopg.ClientCursor(conn).mogrify(query.sql, params or None)
        try:
            conn.execute(f"BEGIN; {text}; ROLLBACK")
        finally:
            if conn.info.transaction_status != pq.TransactionStatus.IDLE:  # it failed half-way
                conn.rollback()
        return
    cur = conn.execute(query.sql, params or None)
    if cur.description is not None:
        cur.fetchall()


class _Pacer:
    """When each query with a rate may run next, shared by every client.

    Why pace at all: a workload that runs the app's queries as fast as two clients can is not
    the app, it is a load test. Measured on staging, a whole-table UPDATE took 200 s under an
    unpaced workload against 75 s without one; at production's rates the lock trace sees the
    waits the app would see, and the migration's duration stays the one production will have.

    busy_budget: the most of one session the paced queries may keep busy (sum over the queries
    of rate x median duration of their last calls). Production's rates on a smaller staging, or
    queries that each scan a big table, can take a core from the migration they rehearse: the
    same whole-table UPDATE ran 20.7 s under 12 queries at 10 calls/s on a 1 M-row table against
    10.1 s bare. Above the budget every rate is scaled by one factor, so the mix stays."""

    def __init__(self, queries: Sequence[Query], start: float, busy_budget: float | None = None):
        self._interval = {q.name: 1.0 / q.rate for q in queries if q.rate and q.rate > 0}
        self._due = dict.fromkeys(self._interval, start)
        self._runs = dict.fromkeys(self._interval, 0)
        self._recent: dict[str, collections.deque] = {name: collections.deque(maxlen=5) for name in self._interval}
        self._budget = busy_budget
        self.scale, self.lowest_scale = 1.0, 1.0
        self._lock = threading.Lock()

    def claim(self, query: Query, default: int) -> int | None:
        """The run's params index if `query` may run now (`default` for an unpaced one), else None."""
        if query.name not in self._interval:
            return default
        with self._lock:
            now, due = time.monotonic(), self._due[query.name]
            if now < due:
                return None
            interval = self._interval[query.name] / self.scale
            following = due + interval
            # behind by a whole interval (a lock wait, say): start again from now, no burst to catch up
            self._due[query.name] = following if following > now else now + interval
            self._runs[query.name] += 1
            return self._runs[query.name] - 1

    def took(self, query: Query, seconds: float) -> None:
        """A call of `query` ended after `seconds`: the busy time that the budget scales by. The
        median of the last 5 calls, so one call that waited on a lock does not stop the query."""
        if self._budget is None or query.name not in self._recent:
            return
        with self._lock:
            self._recent[query.name].append(seconds)
            busy = sum(statistics.median(recent) / self._interval[name]
                       for name, recent in self._recent.items() if recent)
            self.scale = min(1.0, self._budget / busy) if busy > 0 else 1.0
            self.lowest_scale = min(self.lowest_scale, self.scale)

    def until_due(self) -> float:
        """Seconds until the next paced query is due (0 if one is, or none is paced)."""
        with self._lock:
            return max(0.0, min(self._due.values(), default=0.0) - time.monotonic())


def _connector(target: Target | str, app: str, application_name: str | None,
               guards: SessionGuards | None) -> Callable[[], psycopg.Connection]:
    if isinstance(target, Target) and application_name is None:
        return lambda: target.connect(app, guards=guards)
    extra = {"application_name": application_name or f"gonogo/{app}"}
    if guards is not None:
        extra["options"] = guards.options()
    conninfo = make_conninfo(target.conninfo() if isinstance(target, Target) else target, **extra)
    return lambda: psycopg.connect(conninfo, autocommit=True)
