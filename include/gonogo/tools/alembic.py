"""Alembic: a folder with alembic.ini, its script_location holding env.py and versions/*.py,
history in alembic_version (one row per head).

A revision is Python; gonogo needs its SQL. It asks the real Alembic for it, in offline mode,
one revision at a time, with the team's own env.py:

    python -m alembic -c <alembic.ini> upgrade <down_revision>:<revision> --sql
    python -m alembic -c <alembic.ini> downgrade <revision>:<down_revision> --sql

(<down_revision> is `base` for the first revision). Offline mode needs a dialect, not a
database: gonogo runs Alembic on a copy of alembic.ini whose sqlalchemy.url is `postgresql://`,
in the folder of alembic.ini, with the Python that runs gonogo. The SQL is a virtual file beside
the revision (versions/<file>.upgrade.sql / .downgrade.sql, never written), so messages name
the revision; it runs in the mode Alembic runs a revision in, one transaction (its own
BEGIN/COMMIT, and COMMIT ... BEGIN around an autocommit_block).

That SQL already writes alembic_version: the INSERT (first revision) or UPDATE (the next ones),
the DELETE of a downgrade to base, each inside the revision's own transaction. So record() and
forget() write nothing: writing it again would give the table a row Alembic never wrote. The
first revision's SQL creates alembic_version; offline, Alembic cannot look whether it exists
(online it creates it only when missing: runtime/migration.py `_ensure_version_table`,
checkfirst=True), so gonogo makes that one statement CREATE TABLE IF NOT EXISTS — a database
downgraded to base keeps an empty alembic_version, and the first revision applies there again.

Only a linear history is imported. A revision's offline SQL names the one head it moves
(UPDATE ... WHERE version_num = '<down>'); on a branch point or a merge, which rows
alembic_version must gain, lose or change depends on which other heads the database holds at
that moment, which offline mode cannot know. A folder with several bases, a branch point or a
merge revision stops the import and names the files.
"""

from __future__ import annotations

import ast
import configparser
import hashlib
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pglast import ast as pg_ast

from gonogo.errors import BatchError
from gonogo.postgres.sqlfile import TRANSACTION, SqlFile, query, read_sql_file
from gonogo.tools import Applied, Migration, MigrationTool

if TYPE_CHECKING:  # the lint reads a tool's folder without a database driver
    import psycopg

SQL = "tools_alembic.sql"
OFFLINE_URL = "postgresql://"   # a dialect for offline mode; nothing connects to it
TIMEOUT = 120                   # seconds for one `alembic ... --sql`
WORKERS = 4                     # alembic runs at a time (each is a Python start-up: ~0.8 s)
_REV_FILE = re.compile(r"^(?!\.#|__init__)(.*\.py)$")  # alembic/script/base.py _only_source_rev_file
_CREATE_VERSION_TABLE = re.compile(r"^CREATE TABLE alembic_version \(", re.MULTILINE)

# (inputs digest, revision, direction) -> SQL; within one process, what Alembic generated once
_generated: dict[tuple[str, str, str], str] = {}


@dataclass(frozen=True)
class Revision:
    revision: str
    down: tuple[str, ...]
    depends_on: tuple[str, ...]
    path: Path


class Alembic(MigrationTool):
    name = "alembic"
    mode = TRANSACTION
    history = ("public.alembic_version",)
    history_writes = ()  # the revision's own SQL writes alembic_version: checked as its statements
    status_command = "alembic current --check-heads"
    layout = "alembic.ini whose script_location holds env.py and versions/<revision>_<slug>.py"
    baseline_hint = "alembic stamp <the revision production is at>"
    out_of_order = False  # one line of revisions: only the ones after the current head are pending

    def migrations(self, folder: Path) -> list[Migration]:
        folder = Path(folder).resolve()
        ini = folder / "alembic.ini"
        if not ini.is_file():
            raise BatchError(f"{folder}: no alembic.ini here; Alembic's layout is {self.layout}. Point at the "
                             f"folder that holds alembic.ini (where you run `alembic upgrade head`)")
        script_dir, versions = locations(ini)
        chain = linear(read_revisions(versions), versions)
        ups, downs = generate(ini, script_dir, chain)
        out = []
        for rev in chain:
            down = rev.down[0] if rev.down else None
            up = _sql_file(rev, "upgrade", ups[rev.revision])
            if down is None:  # offline always creates alembic_version; online only when missing
                up = _sql_file(rev, "upgrade", _CREATE_VERSION_TABLE.sub(
                    "CREATE TABLE IF NOT EXISTS alembic_version (", ups[rev.revision], count=1))
            _check_version_table(rev, up)
            out.append(Migration(key=rev.revision, name=rev.path.stem, up=up,
                                 down=_sql_file(rev, "downgrade", downs[rev.revision]),
                                 info={"down_revision": down, "file": str(rev.path)}))
        return out

    def applied(self, conn: psycopg.Connection) -> list[Applied] | None:
        if conn.execute(query(SQL, "alembic_version_table")).fetchone()[0] is None:
            return None
        return [Applied(key=version) for (version,) in conn.execute(query(SQL, "alembic_applied"))]

    def done(self, migrations: list[Migration], applied: list[Applied]) -> set[str]:
        """alembic_version holds the current head; every revision up to it is applied."""
        heads = [a.key for a in applied]
        if not heads:
            return set()
        keys = [m.key for m in migrations]
        where = Path(migrations[0].info["file"]).parent if migrations else "versions/"
        if unknown := [h for h in heads if h not in keys]:
            raise BatchError(f"{where}: alembic_version says this database is at {', '.join(unknown)}, which no "
                             f"revision file has (`alembic current` fails the same way). What to do: restore the "
                             f"revision file, or `alembic stamp` the revision the database really is at")
        if len(heads) > 1:
            raise BatchError(f"{where}: alembic_version holds {len(heads)} heads ({', '.join(heads)}) but the "
                             f"revisions form one line; Alembic would be confused too. What to do: `alembic stamp` "
                             f"the one revision the database is at")
        return set(keys[:keys.index(heads[0]) + 1])

    def record(self, conn: psycopg.Connection, migration: Migration, *, started: datetime) -> None:
        """Nothing: the revision's SQL writes alembic_version itself (see the module doc)."""

    def forget(self, conn: psycopg.Connection, migration: Migration) -> None:
        """Nothing: the downgrade's SQL moves or deletes the alembic_version row itself."""


def locations(ini: Path) -> tuple[Path, Path]:
    """(script_location, versions folder) from alembic.ini, %(here)s being its folder."""
    parser = configparser.ConfigParser(defaults={"here": str(ini.parent).replace("%", "%%")})
    try:
        parser.read(ini, encoding="utf-8")
        options = dict(parser.items("alembic")) if parser.has_section("alembic") else {}
    except configparser.Error as exc:
        raise BatchError(f"{ini}: {exc.message if hasattr(exc, 'message') else exc}; fix the file") from None
    if not options.get("script_location"):
        raise BatchError(f"{ini}: no script_location in its [alembic] section; gonogo reads the migrations "
                         f"from there, as `alembic` does. Set it (alembic init writes %(here)s/alembic)")
    location = options["script_location"]
    if re.match(r"^[\w.]+:[\w./]+$", location):
        raise BatchError(f"{ini}: script_location {location} is a package resource; gonogo reads a folder. "
                         f"Give the folder (e.g. %(here)s/migrations)")
    script_dir = (ini.parent / location).resolve()
    if not (script_dir / "env.py").is_file():
        raise BatchError(f"{ini}: script_location {location} has no env.py ({script_dir}); Alembic's layout is "
                         f"alembic.ini, env.py and versions/ (`alembic init`)")
    versions = script_dir / "versions"
    if raw := options.get("version_locations", "").strip():
        if len(found := [p for p in re.split(r"[ ,\n" + re.escape(os.pathsep) + "]+", raw) if p]) != 1:
            raise BatchError(f"{ini}: version_locations names {len(found)} folders; gonogo imports one line of "
                             f"revisions from one folder")
        versions = (ini.parent / found[0]).resolve()
    if not versions.is_dir():
        raise BatchError(f"{ini}: no versions folder {versions}; create it, or fix script_location")
    return script_dir, versions


def read_revisions(versions: Path) -> list[Revision]:
    """Each revision file's identifiers, read from its source without running it."""
    out = []
    for path in sorted(p for p in versions.iterdir() if p.is_file() and _REV_FILE.match(p.name)):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as exc:
            raise BatchError(f"{path} line {exc.lineno}: {exc.msg}; Alembic cannot load it either") from None
        values = {}
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, ast.AnnAssign) and node.value is not None else []
            for target in targets:
                if isinstance(target, ast.Name) and target.id in ("revision", "down_revision", "depends_on"):
                    try:
                        values[target.id] = ast.literal_eval(node.value)
                    except ValueError:
                        raise BatchError(f"{path} line {node.lineno}: {target.id} is computed; gonogo reads the "
                                         f"revision graph without running the files. Write it as a string") from None
        if not isinstance(values.get("revision"), str):
            raise BatchError(f"{path}: no `revision = \"...\"`; Alembic stops on it too (\"Could not determine "
                             f"revision id\"). Add it, or move the file out of {versions.name}/")
        out.append(Revision(values["revision"], _ids(values.get("down_revision")), _ids(values.get("depends_on")),
                            path))
    if not out:
        raise BatchError(f"{versions}: no revisions; create them with `alembic revision -m <message>`")
    return out


def _ids(value) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def linear(revisions: list[Revision], versions: Path) -> list[Revision]:
    """The revisions from base to head, or what makes the history other than one line."""
    by_id: dict[str, Revision] = {}
    for rev in revisions:
        if rev.revision in by_id:
            raise BatchError(f"{rev.path}: revision {rev.revision} is also {by_id[rev.revision].path.name}; "
                             f"give one of them a new id")
        by_id[rev.revision] = rev
    todo = ("gonogo imports one line of revisions (each down_revision the one before): apply branches and "
            "merges with alembic itself, then import the revisions after the merge")
    children: dict[str | None, list[Revision]] = {}
    for rev in revisions:
        if len(rev.down) > 1:
            raise BatchError(f"{rev.path}: revision {rev.revision} merges {', '.join(rev.down)}. What to do: {todo}")
        if rev.down and rev.down[0] not in by_id:
            raise BatchError(f"{rev.path}: down_revision {rev.down[0]} is no revision in {versions}; Alembic stops "
                             f"on it too. Restore that revision's file, or fix down_revision")
        children.setdefault(rev.down[0] if rev.down else None, []).append(rev)
    for parent, kids in children.items():
        if len(kids) > 1:
            what = "are all first revisions (down_revision None)" if parent is None else \
                f"all revise {parent}: a branch"
            raise BatchError(f"{versions}: {', '.join(k.path.name for k in kids)} {what}. What to do: {todo}")
    chain: list[Revision] = []
    current = children.get(None, [None])[0]
    while current is not None:
        chain.append(current)
        current = (children.get(current.revision) or [None])[0]
    if len(chain) != len(revisions):
        lost = sorted(r.path.name for r in revisions if r not in chain)
        raise BatchError(f"{versions}: {', '.join(lost)} are not reached from the first revision (a cycle of "
                         f"down_revision). What to do: fix their down_revision")
    for i, rev in enumerate(chain):
        earlier = {r.revision for r in chain[:i]}
        if missing := [d for d in rev.depends_on if d not in earlier]:
            raise BatchError(f"{rev.path}: depends_on {', '.join(missing)}, which is not a revision before it. "
                             f"What to do: {todo}")
    return chain


def generate(ini: Path, script_dir: Path, chain: list[Revision]) -> tuple[dict[str, str], dict[str, str]]:
    """({revision: upgrade SQL}, {revision: downgrade SQL}) from the real Alembic, offline."""
    digest = _inputs_digest(ini, script_dir, chain[0].path.parent)
    jobs = []
    for rev in chain:
        down = rev.down[0] if rev.down else "base"
        jobs += [(rev, "upgrade", f"{down}:{rev.revision}"), (rev, "downgrade", f"{rev.revision}:{down}")]
    with tempfile.TemporaryDirectory(prefix="gonogo-alembic-") as tmp:
        config = _offline_config(ini, Path(tmp))

        def run(job: tuple[Revision, str, str]) -> str:
            rev, direction, spec = job
            key = (digest, hashlib.sha256(rev.path.read_bytes()).hexdigest(), direction + spec)
            if key not in _generated:
                _generated[key] = _alembic(ini, config, rev, [direction, spec])
            return _generated[key]

        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            futures = [pool.submit(run, job) for job in jobs]
            try:
                results = [f.result() for f in futures]
            except BatchError:
                pool.shutdown(cancel_futures=True)  # the first failure (in revision order) is the answer
                raise
    ups = {job[0].revision: sql for job, sql in zip(jobs, results) if job[1] == "upgrade"}
    downs = {job[0].revision: sql for job, sql in zip(jobs, results) if job[1] == "downgrade"}
    return ups, downs


def _inputs_digest(ini: Path, script_dir: Path, versions: Path) -> str:
    """alembic.ini and every file of script_location but the revisions (env.py, helpers it
    imports); each revision's own bytes are part of its key."""
    digest = hashlib.sha256(ini.read_bytes())
    for path in sorted(script_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.parent != versions:
            digest.update(str(path.relative_to(script_dir)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _offline_config(ini: Path, tmp: Path) -> Path:
    """A copy of alembic.ini for offline mode: sqlalchemy.url a bare dialect, %(here)s the
    team's folder (the copy lives elsewhere)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ini, encoding="utf-8")
    here = str(ini.parent).replace("%", "%%")
    for section in parser.sections():
        for key, value in parser.items(section):
            parser.set(section, key, value.replace("%(here)s", here))
    parser.set("alembic", "sqlalchemy.url", OFFLINE_URL)
    path = tmp / "alembic.ini"
    with path.open("w", encoding="utf-8") as out:
        parser.write(out)
    return path


def _alembic(ini: Path, config: Path, rev: Revision, args: list[str]) -> str:
    command = f"alembic {' '.join(args)} --sql"
    what = (f"What to do: run `{command}` in {ini.parent}; gonogo needs each revision as SQL (Alembic's offline "
            f"mode), so env.py's offline branch and the revision's {args[0]}() must run without a database "
            f"(no op.get_bind().execute(...) reading rows); gonogo gives them sqlalchemy.url = {OFFLINE_URL}")
    try:
        done = subprocess.run([sys.executable, "-m", "alembic", "-c", str(config), *args, "--sql"], cwd=ini.parent,
                              capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BatchError(f"{rev.path}: `{command}` ran past {TIMEOUT} s. {what}") from None
    if done.returncode != 0:
        tail = "\n".join(line for line in done.stderr.strip().splitlines()[-12:])
        raise BatchError(f"{rev.path}: `{command}` failed (exit {done.returncode}):\n{tail}\n{what}")
    return done.stdout


def _sql_file(rev: Revision, direction: str, text: str) -> SqlFile:
    return read_sql_file(rev.path.with_name(f"{rev.path.stem}.{direction}.sql"), mode=TRANSACTION, text=text)


def _check_version_table(rev: Revision, up: SqlFile) -> None:
    """The SQL moves alembic_version, the table applied() reads (env.py may name another)."""
    tables = {".".join(filter(None, (n.relation.schemaname, n.relation.relname)))
              for s in up.statements for n in [s.node]
              if isinstance(n, (pg_ast.InsertStmt, pg_ast.UpdateStmt, pg_ast.DeleteStmt)) and "version_num" in s.sql}
    if tables != {"alembic_version"}:
        raise BatchError(f"{up.path}: the SQL Alembic generated for {rev.path.name} writes "
                         f"{', '.join(sorted(tables)) or 'no version table'} where gonogo reads alembic_version "
                         f"(version_table / version_table_schema in env.py). What to do: keep Alembic's default "
                         f"alembic_version, and run the revisions in one transaction each (context.begin_transaction)")


TOOL = Alembic()
