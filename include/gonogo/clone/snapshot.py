"""Production copied into staging for the rehearsal, and backups, with pg_dump / pg_restore.

The rehearsal's copy streams: pg_dump piped into pg_restore, nothing on disk (stream_into).
The backup taken before the batch is a dump in directory format, dumped with parallel jobs,
read back and kept: files 0600 in 0700 folders because they hold production data. Credentials
reach pg_dump through its environment, never its command line.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from gonogo.postgres.pgbin import find_bindir
from gonogo.errors import TargetError
from gonogo.apply.progress import duration, megabytes, rate
from gonogo.results import GateResult, Verdict
from gonogo.postgres.sqlfile import query
from gonogo.postgres.target import SessionGuards, Target

Log = Callable[[str], None]
# pg_restore --list: "<id>; <tableoid> <oid> TABLE DATA <schema> <name> <owner>"
_TABLE_DATA = re.compile(r"^(?P<id>\d+); \d+ \d+ TABLE DATA (?P<schema>\S+) (?P<table>.+) (?P<owner>\S+)$")
# --verbose names each table as its data is dumped or restored. With --jobs, workers write to
# the same stderr and their "pg_dump: " prefixes can land on another's line, but a message
# always ends its line: match at the end only.
_DUMPING = re.compile(r'dumping contents of table "(?P<table>.+)"$')
_RESTORING = re.compile(r'processing data for table "(?P<table>.+)"$')
# Index and constraint builds dominate a restore and sort in maintenance_work_mem (64 MB by
# default): PostgreSQL's "Populating a Database" advice, for the restore's sessions only.
_RESTORE_SETTINGS = "-c maintenance_work_mem=256MB"


@dataclass(frozen=True)
class Dump:
    path: Path
    bytes: int
    seconds: float

    def to_dict(self) -> dict:
        return {"path": str(self.path), "bytes": self.bytes, "seconds": round(self.seconds, 3)}

    @classmethod
    def from_dict(cls, data: dict) -> Dump:
        return cls(Path(data["path"]), data["bytes"], data["seconds"])


def dump(target: Target, dest: Path, *, jobs: int = 2, log: Log = print, app: str = "dump",
         lock_wait_timeout: str = "2s", compress: int = 1, sync: bool = True) -> Dump:
    """pg_dump of the whole database into dest (a new directory), gzip level `compress` (0: none),
    fsynced unless sync is False.

    pg_dump takes ACCESS SHARE on every table; waiting behind an exclusive lock it would make
    the app's queries queue behind it, so it gives up after lock_wait_timeout instead."""
    if dest.exists():
        raise TargetError(f"{dest} already exists; a dump never overwrites another")
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    started = time.monotonic()
    tables = TableProgress.dumping(_table_sizes(target, app, lock_wait_timeout))
    _run(["pg_dump", "--format=directory", f"--jobs={jobs}", f"--compress={compress}", "--verbose",
          *([] if sync else ["--no-sync"]),
          f"--lock-wait-timeout={lock_wait_timeout}", "--no-password", f"--file={dest}"],
         target, log, what=f"pg_dump of {target.describe()}", app=app, tables=tables)
    result = Dump(path=dest, bytes=sum(f.stat().st_size for f in dest.rglob("*") if f.is_file()),
                  seconds=time.monotonic() - started)
    data = sum(tables.sizes.get(t, 0) for t in tables.seen)
    log(f"dumped {len(tables.seen)} tables ({megabytes(data)} of table data) into {megabytes(result.bytes)} "
        f"in {duration(result.seconds)}: {rate(data, result.seconds)}")
    return result


def _table_sizes(target: Target, app: str, lock_wait_timeout: str) -> dict[str, int]:
    """{"schema.table": bytes of data} of the tables pg_dump dumps; {} where it cannot be read
    (pg_dump then reports why, or the lines go without sizes)."""
    try:
        with target.connect(app, SessionGuards(lock_timeout=lock_wait_timeout)) as conn:
            return dict(conn.execute(query("progress_table_sizes.sql", "table_sizes")).fetchall())
    except (TargetError, psycopg.Error):
        return {}


def _dumped_files(path: Path) -> dict[str, int]:
    """{"schema.table": bytes of its data file in the dump} of every table with data in the dump."""
    return {table: sum(f.stat().st_size for f in path.glob(f"{dump_id}.dat*"))
            for table, dump_id in _table_data(path).items()}


def dumped_tables(path: Path) -> list[str]:
    """schema.table of every table whose data is in the dump, read back with pg_restore --list."""
    return sorted(_table_data(path))


def _table_data(path: Path) -> dict[str, str]:
    """{"schema.table": its dump id} of the dump's TABLE DATA entries (pg_restore --list)."""
    out = subprocess.run([str(find_bindir() / "pg_restore"), "--list", str(path)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise TargetError(f"pg_restore cannot read the dump at {path}: {out.stderr.strip()}")
    return {f"{m['schema']}.{m['table']}": m["id"] for line in out.stdout.splitlines()
            if (m := _TABLE_DATA.match(line))}


def verify_dump(result: Dump, expected_tables: list[str], *, phase: str,
                gate: str = "backup_verified", title: str = "Backup created") -> GateResult:
    """The dump reads back and holds the data of every table the database has
    (expected_tables as "schema.table", unquoted, as table_names() gives them)."""
    try:
        tables = dumped_tables(result.path)
    except TargetError as exc:
        return GateResult(gate=gate, title=title, phase=phase, verdict=Verdict.FAIL, value="unreadable",
                          threshold="pg_restore --list reads it", message=str(exc),
                          hint="take the backup again; check disk space and pg_dump's version")
    missing = sorted(set(expected_tables) - set(tables))
    return GateResult(
        gate=gate, title=title, phase=phase,
        verdict=Verdict.PASS if not missing else Verdict.FAIL,
        value=f"{len(tables)} tables, {result.bytes / 1e6:.1f} MB in {result.seconds:.1f} s",
        threshold=f"all {len(expected_tables)} tables, readable by pg_restore",
        message=(f"pg_restore --list reads the dump at {result.path}; every table's data is in it"
                 if not missing else f"tables missing from the dump: {', '.join(missing[:5])}"),
        hint="" if not missing else "take the backup again with a role that can read every table",
        details=[{"path": str(result.path), "bytes": result.bytes, "tables": len(tables)}])


def restore_into(result: Dump, staging: Target, *, production: Target, jobs: int = 4,
                 log: Log = print) -> float:
    """Drop and recreate the staging database, then pg_restore the dump into it.

    jobs: more than a 2-core machine's cores, because each job also waits on its reads and on the
    server; measured in tests/bench/test_bench_clone.py."""
    started = time.monotonic()
    _recreate(staging, production, "restore_staging", log)
    tables = TableProgress.restoring(_dumped_files(result.path), compressed=any(result.path.glob("*.dat.gz")))
    restoring = time.monotonic()
    _run(["pg_restore", f"--jobs={jobs}", "--exit-on-error", "--verbose", "--no-password",
          f"--dbname={staging.dbname}", str(result.path)], staging, log,
         what=f"pg_restore into {staging.describe()}", app="restore_staging", tables=tables,
         settings=_RESTORE_SETTINGS)
    seconds = time.monotonic() - restoring
    log(f"restored {len(tables.seen)} tables from {megabytes(result.bytes)} of dump in {duration(seconds)}: "
        f"{rate(result.bytes, seconds)}")
    with staging.connect("restore_staging", guards=None) as conn:
        conn.execute("ANALYZE")  # fresh statistics, as production has, before plans are compared
    return time.monotonic() - started


def _recreate(staging: Target, production: Target, app: str, log: Log) -> None:
    """Staging's database dropped and made anew, empty, for a copy of production."""
    with _staging_server(staging, production, app, "restoring") as conn:
        name = sql.Identifier(staging.dbname)
        log(f"dropping and recreating database {staging.dbname} on {staging.host}:{staging.port}")
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


@contextlib.contextmanager
def _staging_server(staging: Target, production: Target, app: str, doing: str):
    """A session on staging's server (its maintenance database), once staging is known not to be
    production under any address: what drops staging's database must never reach production's."""
    if staging.same_database(production):
        raise TargetError(
            f"staging {staging.describe()} and production {production.describe()} are the same "
            f"database; {doing} would drop production. Point the staging connection at another database.")
    with staging.with_dbname("postgres").connect(app, guards=None) as conn:
        if staging.dbname == production.dbname and _server_id(conn) == _server_id_of(production):
            raise TargetError(
                f"staging {staging.describe()} is production {production.describe()} under another "
                f"address (same server system identifier); {doing} would drop production.")
        yield conn


def drop_copy(staging: Target, *, production: Target, log: Log = print) -> str:
    """The staging copy, gone once the run is done with it (the DAG's teardown of
    restore_staging, whatever the outcome): it holds production's data. The backup taken
    before the batch is a dump of its own and stays."""
    with _staging_server(staging, production, "drop_staging_copy", "dropping the copy") as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(staging.dbname)))
    done = f"dropped the staging copy {staging.describe()}"
    log(done)
    return done


def _server_id(conn) -> int | None:
    """The cluster's system identifier: equal for two addresses of one server."""
    try:
        return conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()[0]
    except psycopg.errors.InsufficientPrivilege:
        conn.rollback()
        return None


def _server_id_of(target: Target) -> int | None:
    with target.connect("restore_staging/check") as conn:
        return _server_id(conn) or -1  # unknown never equals staging's


@dataclass
class TableProgress:
    """Per-table progress from pg_dump / pg_restore --verbose output, read as it comes."""

    verb: str
    pattern: re.Pattern
    sizes: dict[str, int]  # the tables to expect, with their size where known
    of_size: str = ""      # what the size is the size of
    seen: set[str] = field(default_factory=set)

    @classmethod
    def dumping(cls, sizes: dict[str, int]) -> TableProgress:
        return cls("dumping", _DUMPING, sizes)

    @classmethod
    def restoring(cls, sizes: dict[str, int], compressed: bool = True) -> TableProgress:
        return cls("restoring", _RESTORING, sizes, " compressed" if compressed else "")

    def line(self, output: str) -> str | None:
        """The progress line for a line of output that starts a table's data, else None."""
        m = self.pattern.search(output)
        if m is None or m["table"] in self.seen:
            return None
        self.seen.add(m["table"])
        of = f" of {len(self.sizes)}" if self.sizes else ""
        size = f", {megabytes(self.sizes[m['table']])}{self.of_size}" if m["table"] in self.sizes else ""
        return f"{self.verb} data for table {m['table']} ({len(self.seen)}{of}{size})"


@dataclass(frozen=True)
class Stage:
    """One program of a pipeline: its argv (a PostgreSQL client program first), the database it
    reaches (credentials through its environment), the tables its verbose lines announce, and
    server settings for its sessions ("-c name=value ...", as PGOPTIONS)."""

    argv: list[str]
    target: Target
    tables: TableProgress
    what: str
    settings: str = ""


def _run(argv: list[str], target: Target, log: Log, what: str, app: str, tables: TableProgress,
         settings: str = "") -> None:
    _pipeline([Stage(argv, target, tables, what, settings)], log, app)


def _pipeline(stages: list[Stage], log: Log, app: str) -> None:
    """Run the stages, each one's output piped into the next (pg_dump | pg_restore); log each
    one's table progress and errors as they come; a failure names the first stage that failed
    (the next one then fails only for want of input)."""
    procs, readers, tails = [], [], []
    feed = None
    for i, stage in enumerate(stages):
        last = i == len(stages) - 1
        argv = [str(find_bindir() / stage.argv[0]), *stage.argv[1:]]
        # LC_ALL=C: the verbose lines are parsed, in English whatever the machine's locale
        env = {**os.environ, **stage.target.libpq_env(), "PGAPPNAME": f"gonogo/{app}"[:63], "LC_ALL": "C"}
        if stage.settings:
            env["PGOPTIONS"] = f"{os.environ.get('PGOPTIONS', '')} {stage.settings}".strip()
        proc = subprocess.Popen(argv, env=env, stdin=feed, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT if last else subprocess.PIPE, umask=0o077)
        if feed is not None:
            feed.close()  # the next program holds it now: a reader that ends gives its writer SIGPIPE
        feed = proc.stdout
        tail: list[str] = []
        readers.append(threading.Thread(target=_follow, args=(proc.stdout if last else proc.stderr, stage.tables,
                                                              log, tail), daemon=True))
        procs.append(proc)
        tails.append(tail)
    for reader in readers:
        reader.start()
    for proc in procs:
        proc.wait()
    for reader in readers:
        reader.join()
    for stage, proc, tail in zip(stages, procs, tails):
        if proc.returncode != 0:
            raise TargetError(_failure(stage, proc.returncode, tail))


def _follow(stream, tables: TableProgress, log: Log, tail: list[str]) -> None:
    for raw in stream:
        line = raw.decode(errors="replace").rstrip()
        if progress := tables.line(line):
            log(progress)
        elif "error" in line.lower() or "warning" in line.lower():
            log(line)
        tail[:] = (tail + [line])[-8:]


def _failure(stage: Stage, code: int, tail: list[str]) -> str:
    errors = [line for line in tail if "error" in line.lower()] or tail
    message = f"{stage.what} failed (exit {code}): " + " | ".join(errors[-3:])
    if stage.argv[0] == "pg_dump" and "statement timeout" in message:
        # pg_dump's --lock-wait-timeout is enforced as a statement timeout on LOCK TABLE
        message += (". A table stayed locked by another session past the lock wait timeout: the "
                    "snapshot gave up rather than make the app's queries queue behind it. Retry when "
                    "the lock is released (pg_locks shows who holds it).")
    if denied := _DENIED_EXTENSION.search(message):
        message += (f". pg_restore recreates every extension production has, and staging's login "
                    f"{stage.target.user} may not create {denied['name']}: a trusted extension needs CREATE on "
                    f"the database, any other one a superuser. Connect staging as a superuser (its "
                    f"database is a throwaway copy), or drop the extension from production if the app "
                    f"does not use it")
    return message


_DENIED_EXTENSION = re.compile(r'permission denied to create extension "(?P<name>[^"]+)"')


def table_names(conn) -> list[str]:
    """"schema.table" of every user table, unquoted, as pg_restore --list names them."""
    return [f"{schema}.{name}" for schema, name in conn.execute(query("catalog.sql", "user_tables"))]


def stream_into(production: Target, staging: Target, *, app: str = "restore_staging",
                lock_wait_timeout: str = "2s", log: Log = print) -> float:
    """Drop and recreate the staging database, stream production into it and ANALYZE it:
    pg_dump's custom format piped into pg_restore, nothing written to disk on the way. No task
    reads a file another task wrote, so a worker on any host makes the copy, and no snapshot of
    production's data is left behind on one.

    Not parallel: pg_restore's --jobs needs a file it can seek in. tests/bench/test_bench_clone.py
    measures it against dump-to-file-then-parallel-restore (`dump` and `restore_into`).

    pg_dump takes ACCESS SHARE on every table and gives up after lock_wait_timeout rather than
    queue the app's queries behind an exclusive lock it waits for."""
    started = time.monotonic()
    _recreate(staging, production, app, log)
    # what pg_dump announces is what pg_restore is given: the pipe holds 64 kB between them
    copying = TableProgress("copying", _DUMPING, _table_sizes(production, app, lock_wait_timeout))
    _pipeline([
        Stage(["pg_dump", "--format=custom", "--compress=0", "--verbose", "--no-password",
               f"--lock-wait-timeout={lock_wait_timeout}"], production, copying,
              f"pg_dump of {production.describe()}"),
        Stage(["pg_restore", "--exit-on-error", "--no-password", f"--dbname={staging.dbname}"], staging,
              TableProgress.restoring({}), f"pg_restore into {staging.describe()}", _RESTORE_SETTINGS),
    ], log, app)
    data = sum(copying.sizes.get(t, 0) for t in copying.seen)
    seconds = time.monotonic() - started
    log(f"copied {len(copying.seen)} tables ({megabytes(data)} of table data) from {production.describe()} "
        f"into {staging.describe()} in {duration(seconds)}: {rate(data, seconds)}")
    with staging.connect(app, guards=None) as conn:
        conn.execute("ANALYZE")  # fresh statistics, as production has, before plans are compared
    return time.monotonic() - started
