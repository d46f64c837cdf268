"""Small helpers the tests share (fixtures live in the conftest files)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess

from psycopg import sql

from gonogo.postgres.pgbin import find_bindir
from gonogo_local.cluster import LocalCluster

_counter = itertools.count()


def sql_file(tmp_path, text: str, name: str = "script.sql", mode: str = "statements"):
    """A migration file written to tmp_path and parsed, as gonogo.batch would hand it over;
    mode: how it runs (gonogo.postgres.sqlfile: "statements" or "transaction")."""
    from gonogo.postgres.sqlfile import read_sql_file

    path = tmp_path / name
    path.write_text(text)
    return read_sql_file(path, mode=mode)


def create_database(cluster: LocalCluster, prefix: str, name: str | None = None, template=None):
    """A new database on the cluster, empty or a copy of `template` (a Target on the same
    cluster, CREATE DATABASE ... TEMPLATE); returns its Target."""
    dbname = f"{prefix}_{os.getpid()}_{next(_counter)}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname))
    if template is not None:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template.dbname))
    with cluster.target().connect("tests", guards=None) as conn:
        conn.execute(statement)
    return cluster.target(dbname, name=name or cluster.name)


def drop_database(cluster: LocalCluster, dbname: str) -> None:
    with cluster.target().connect("tests", guards=None) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


def pg_dump_schema(target) -> str:
    """pg_dump --schema-only: an oracle for "the schema is exactly as before" that shares no
    code with gonogo's own catalog reader. gonogo's bookkeeping schema (its history and audit
    trail, written even for a rejected rollout) is not the app's schema and is left out."""
    out = subprocess.run([str(find_bindir() / "pg_dump"), "--schema-only", "--no-owner", "--exclude-schema=gonogo"],
                         env={**os.environ, **target.libpq_env()}, capture_output=True, text=True, check=True)
    # \restrict / \unrestrict carry a random key per dump (pg_dump 15.14+): not schema
    return "\n".join(line for line in out.stdout.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


def states(dagrun) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dagrun.get_task_instances()}


def failed_gates(artifacts) -> list[str]:
    """The FAIL lines of every report under `artifacts`: what an assertion on a run's states
    prints, so a No-Go on a busy CI machine says which gate and by how much."""
    lines = []
    for path in sorted(artifacts.glob("*/*/report.json")):
        for r in json.loads(path.read_text())["results"]:
            if r["verdict"] == "FAIL":
                lines.append(f"{r['phase']} {r['gate']} {r['subject']}: {r['value']} — {r['message'][:300]}")
    return lines


def headers(messages) -> list[str]:
    """Header texts of Slack messages received by the local Slack server."""
    return [b["text"]["text"] for m in messages for b in m["blocks"] if b["type"] == "header"]


def body(message) -> str:
    return "\n".join(b["text"]["text"] for b in message["blocks"] if b["type"] == "section")


def copy_batch(tmp_path, batch_id: str = "20250115_recipe_fixes"):
    """The shipped batch copied to tmp_path/batches/<id>, with the files its manifest points at
    (../../sql, ../../sample_app) beside it; returns the batch folder."""
    import shutil

    from gonogo.batch import SHIPPED_BATCHES

    include = SHIPPED_BATCHES.parent
    shutil.copytree(SHIPPED_BATCHES / batch_id, tmp_path / "batches" / batch_id)
    for name in ("sql", "sample_app"):
        shutil.copytree(include / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "batches" / batch_id


def apt_install(packages: list[str]) -> None:
    """apt-get install of Debian packages (pinned as name=version where it matters), as root or
    with sudo; a failed install fails the test with apt-get's reason and what to run by hand."""
    import pytest

    import fcntl
    import tempfile

    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Test files on other workers install too (chromium, sqitch) and apt-get fails at once on a
    # lock another apt-get holds: one install at a time here, and a wait for any other apt
    # (a fresh machine's own updates) instead of a failure.
    wait = ["-o", "DPkg::Lock::Timeout=600"]
    with open(os.path.join(tempfile.gettempdir(), "gonogo-tests-apt.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for argv in (["apt-get", *wait, "update", "-q"],
                     ["apt-get", *wait, "install", "-y", "-q", "--no-install-recommends", *packages]):
            done = subprocess.run(sudo + argv, env=env, capture_output=True, text=True, timeout=1200)
            if done.returncode != 0:
                pytest.fail(f"could not install {' '.join(packages)} ({' '.join(argv)}): {done.stderr[-800:]}\n"
                            f"install them by hand: apt-get install {' '.join(packages)}")


def table_locks(conn, statement: str, setup: str = "") -> dict[str, str]:
    """{table: strongest mode} the statement holds on ordinary tables of schema public, read
    from pg_locks in its own transaction, which is rolled back (conn: autocommit). Tables are
    named as they were before it (a table it drops or renames keeps its name); `setup` runs
    first in the same transaction (e.g. SET LOCAL TimeZone), its locks counted too."""
    from gonogo.postgres.locks import strongest

    tables = "SELECT oid, relname FROM pg_class WHERE relkind IN ('r', 'p') AND relnamespace = 'public'::regnamespace"
    conn.execute("BEGIN")
    try:
        if setup:
            conn.execute(setup)
        names = dict(conn.execute(tables).fetchall())
        conn.execute(statement)
        names.update(conn.execute(tables).fetchall())  # tables it creates
        rows = conn.execute("SELECT relation, mode FROM pg_locks WHERE pid = pg_backend_pid() AND granted "
                            "AND locktype = 'relation'").fetchall()
    finally:
        conn.execute("ROLLBACK")
    held: dict[str, list[str]] = {}
    for oid, mode in rows:
        if oid in names:
            held.setdefault(names[oid], []).append(mode)
    return {table: strongest(modes) for table, modes in held.items()}


def rewritten(conn, statement: str, table: str, setup: str = "") -> list[str]:
    """The relations of `table` (itself and its indexes) whose file (pg_class.relfilenode) the
    statement replaces, inside a transaction that is rolled back (conn: autocommit)."""
    files = ("SELECT c.relname, c.relfilenode FROM pg_class c WHERE c.oid = %(t)s::regclass OR c.oid IN "
             "(SELECT indexrelid FROM pg_index WHERE indrelid = %(t)s::regclass)")
    conn.execute("BEGIN")
    try:
        if setup:
            conn.execute(setup)
        before = dict(conn.execute(files, {"t": table}).fetchall())
        conn.execute(statement)
        after = dict(conn.execute(files, {"t": table}).fetchall())
    finally:
        conn.execute("ROLLBACK")
    return sorted(name for name, node in before.items() if after.get(name) != node)


def install_lint_alone(tmp_path):
    """`pip install <the project>` with no extra, into a new venv under tmp_path, from the index
    pip is configured with (as an author's machine or pre-commit does it). The project is copied
    first (what pyproject.toml packages), so the build leaves nothing in the worktree. Returns
    (the venv's bin folder, the megabytes the install added to an empty venv)."""
    import shutil
    import sys
    from pathlib import Path

    project = Path(__file__).resolve().parents[1]
    source = tmp_path / "source"
    for name in ("pyproject.toml", "README.md"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(project / name, source / name)
    for folder in ("include/gonogo", "include/sql"):
        shutil.copytree(project / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    empty, venv = tmp_path / "empty", tmp_path / "venv"
    for where in (empty, venv):
        subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(source)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]

    def megabytes(folder) -> float:
        return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file() and not p.is_symlink()) / 2**20

    return venv / "bin", megabytes(venv) - megabytes(empty)


def deadlock_in_the_watch_window(production, batch_id: str, timeout: float = 900) -> None:
    """Two app sessions deadlock as soon as the batch's next watch window has started (its
    `watch_started` event in production's audit trail: after the baseline, before the window's
    first reading, whatever the machine's load), which tolerates no deadlock; gives up at timeout."""
    import threading
    import time

    from gonogo.apply import history

    def started() -> int:
        with production.connect("tests/dba", guards=None) as conn:
            return sum(e["event"] == "watch_started" for e in history.events(conn, batch_id))

    before, deadline = started(), time.monotonic() + timeout
    while started() == before and time.monotonic() < deadline:
        time.sleep(0.3)
    barrier = threading.Barrier(2)

    def session(first, second):
        with production.connect("tests/app-session", guards=None, autocommit=False) as conn:
            try:
                conn.execute('UPDATE "Recipe" SET "name" = "name" WHERE id = %s', [first])
                barrier.wait()
                conn.execute('UPDATE "Recipe" SET "name" = "name" WHERE id = %s', [second])
                conn.commit()
            except Exception:  # noqa: BLE001 - one of the two is the deadlock victim
                conn.rollback()

    pair = [threading.Thread(target=session, args=args) for args in ((1, 2), (2, 1))]
    for t in pair:
        t.start()
    for t in pair:
        t.join()
