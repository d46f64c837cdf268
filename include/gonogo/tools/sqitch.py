"""Sqitch: a project folder (sqitch.plan, sqitch.conf, deploy/ revert/ verify/<change>.sql),
history in the registry schema `sqitch`.

Sqitch deploys the changes in plan order, each deploy script through `psql -f` with
ON_ERROR_STOP (Engine/pg.pm): it adds no transaction, the script's own BEGIN/COMMIT (which
`sqitch add` writes) is the transaction. revert/<change>.sql is the down; verify/<change>.sql
is the team's check that the change is right, which gonogo runs right after its step on
staging as a contract (gonogo.tools.imported).

A change is known by its change_id: the SHA-1 of the change's plan entry (project, URI, name,
the previous change's id, planner, date, dependencies, note — App/Sqitch/Plan/Change.pm
`info`), so editing a deployed line of the plan, or one above it, gives a change Sqitch no
longer finds. The registry (App/Sqitch/Engine/pg.sql) gets, per deployed change, a row in
changes (its script_hash the SHA-1 of the deploy file's bytes), its dependencies, the tags on
it and a 'deploy' event; a revert deletes the tags and the change (dependencies cascade) and
logs a 'revert' event. gonogo writes exactly that, inside the change's own transaction.

A reworked change (the same name again after a tag) keeps its earlier deploy, revert and
verify scripts as <name>@<tag>.sql (Change.pm `path_segments`); gonogo names that earlier
step <name>@<tag>, as the file. The plan is parsed as Sqitch parses it (Plan.pm `_parse`),
and what Sqitch refuses in it, gonogo refuses too, with the file and line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from gonogo.errors import BatchError
from gonogo.postgres.sqlfile import STATEMENTS, SqlFile, query, read_sql_file
from gonogo.tools import Applied, Migration, MigrationTool

if TYPE_CHECKING:  # the lint reads a tool's folder without a database driver
    import psycopg

SQL = "tools_sqitch.sql"

# App/Sqitch/Plan.pm: names may not start or end with punctuation (but _), nor hold blanks,
# ":", "@", "#" or "\", nor end in ~/=%^ and digits (those are symbolic references).
_PUNCT = r"""\-!"#$%&'()*+,./:;<=>?@\[\\\]^`{|}~"""
NAME = (rf"(?![{_PUNCT}])(?:(?![~/=%^][0-9]+(?:$|[ \t]))[^ \t:@#\\])+(?<![{_PUNCT}])\b")
_TIMESTAMP = r"(?P<ts>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)"
_LINE = re.compile(
    rf"^[ \t]*(?:(?P<at>@)|[ \t]*(?P<operator>[+-])[ \t]*)?(?P<name>{NAME})(?:[ \t]+)?"
    rf"(?:\[(?P<deps>[^\]]+)\][ \t]*)?(?:{_TIMESTAMP}[ \t]*)?"
    r"(?:(?P<planner_name>[^<]+)[ \t]+<(?P<planner_email>[^>]+)>)?$")
_DEPENDENCY = re.compile(
    rf"^(?P<conflicts>!?)(?:(?P<project>{NAME}):)?"
    rf"(?:(?P<id>[0-9a-f]{{40}})|(?P<change>{NAME})(?:@(?P<tag>{NAME}))?|(?:@(?P<only_tag>{NAME}))?)$")
_PRAGMA = re.compile(rf"^[ \t]*%[ \t]*(?P<name>[^{_PUNCT}](?:[^ \t=]*?[^{_PUNCT} \t])?)(?:[ \t]*=[ \t]*(?P<value>.+))?$")
_BLANK = re.compile(r"^[ \t]*(?:#[ \t]*(?P<note>.+)|$)")
_UNESCAPE = {"\\\\": "\\", "\\n": "\n", "\\r": "\r"}

# sqitch.conf keys that move the plan or the scripts away from where gonogo reads them
_LAYOUT_DEFAULTS = {"top_dir": ".", "plan_file": "sqitch.plan", "deploy_dir": "deploy", "revert_dir": "revert",
                    "verify_dir": "verify", "reworked_dir": ".", "reworked_deploy_dir": "deploy",
                    "reworked_revert_dir": "revert", "reworked_verify_dir": "verify", "extension": "sql"}


@dataclass(frozen=True)
class Dependency:
    """One entry of a change's [...] (Plan/Depend.pm): [!][project:]change[@tag], [project:]@tag or an id."""

    conflicts: bool
    project: str | None
    change: str | None
    tag: str | None
    id: str | None

    def key_name(self) -> str:
        return ((self.change or "") + (f"@{self.tag}" if self.tag else "")) or (self.id or "")

    def as_string(self, project: str) -> str:
        """How the registry and the change's id write it: other projects' with their name."""
        if self.project is None or self.project == project:
            return self.key_name()
        return f"{self.project}:{self.key_name()}"


@dataclass(eq=False)
class PlanEntry:
    """A change or tag line of the plan: who planned it, when, and its note (unescaped)."""

    name: str
    line: int
    timestamp: str
    planner_name: str
    planner_email: str
    note: str


@dataclass(eq=False)
class PlanTag(PlanEntry):
    id: str = ""


@dataclass(eq=False)
class PlanChange(PlanEntry):
    requires: list[Dependency] = field(default_factory=list)
    conflicts: list[Dependency] = field(default_factory=list)
    parent: PlanChange | None = None
    tags: list[PlanTag] = field(default_factory=list)
    rework_tags: list[PlanTag] = field(default_factory=list)
    id: str = ""


@dataclass
class Plan:
    path: Path
    project: str
    uri: str | None
    changes: list[PlanChange]


@dataclass(frozen=True)
class SqitchApplied(Applied):
    """A row of sqitch.changes: which project and change it is, for messages and for
    dependencies on other projects."""

    change: str = ""
    project: str = ""


class Sqitch(MigrationTool):
    name = "sqitch"
    mode = STATEMENTS  # psql -f: the script's own BEGIN/COMMIT, nothing around it
    history = ("sqitch.",)
    status_command = "sqitch status <target>"
    layout = "sqitch.plan and sqitch.conf, with deploy/<change>.sql, revert/<change>.sql and verify/<change>.sql"
    baseline_hint = "sqitch deploy --log-only --to <the last change production already has>"
    # Sqitch goes on from its current change (the last deployed, Engine.pm `_sync_plan`): it never
    # deploys a change planned before it.
    out_of_order = False

    def migrations(self, folder: Path) -> list[Migration]:
        folder = Path(folder)
        plan_path = folder / "sqitch.plan"
        if not plan_path.is_file():
            raise BatchError(f"{folder}: no sqitch.plan here; Sqitch's layout is {self.layout}. "
                             f"Point at the Sqitch project folder (where `sqitch init` wrote sqitch.plan)")
        _check_config(folder / "sqitch.conf")
        plan = parse_plan(plan_path)
        out, by_hash = [], {}
        for change in plan.changes:
            stem = script_stem(folder, change)
            deploy = folder / "deploy" / f"{stem}.sql"
            if not deploy.is_file():
                raise BatchError(f"{plan_path} line {change.line}: change {change.name} has no deploy script "
                                 f"{deploy.relative_to(folder)}; Sqitch stops on it too. Add the file, or remove "
                                 f"the change from the plan")
            raw = deploy.read_bytes()
            script_hash = hashlib.sha1(raw).hexdigest()
            if script_hash in by_hash:  # changes UNIQUE (project, script_hash)
                raise BatchError(f"{deploy}: the same bytes as {by_hash[script_hash]}; Sqitch's registry keeps one "
                                 f"change per deploy script hash, so it could not deploy both. Make the reworked "
                                 f"script differ (it is meant to change something)")
            by_hash[script_hash] = deploy
            revert, verify = folder / "revert" / f"{stem}.sql", folder / "verify" / f"{stem}.sql"
            out.append(Migration(
                key=change.id, name=stem, up=read_sql_file(deploy, mode=self.mode),
                down=read_sql_file(revert, mode=self.mode) if revert.is_file() else None,
                checksum=script_hash, verify=_verify_file(verify) if verify.is_file() else None,
                info=_info(plan, change)))
        if not out:
            raise BatchError(f"{plan_path}: the plan has no changes; add them with `sqitch add`")
        return out

    def applied(self, conn: psycopg.Connection) -> list[Applied] | None:
        """The rows of sqitch.changes, every project's (done() keeps the plan's project).

        A failed deploy leaves no row there, only a 'fail' event (Engine.pm `deploy_change`
        logs it after the script died; `_deploy_all` then reverts what the same run had
        deployed). Sqitch counts only sqitch.changes: `sqitch status` lists the change as
        undeployed and `sqitch deploy` runs it again. gonogo does the same — the change is
        pending, not a failure to resolve first: its script's own BEGIN/COMMIT rolled back
        whatever it did, and a script without one that left part of itself behind fails again
        in gonogo's dry run on staging (a copy of production), at the statement that fails."""
        if not conn.execute(query(SQL, "sqitch_initialized")).fetchone()[0]:
            return None
        return [SqitchApplied(key=change_id, checksum=script_hash, change=change, project=project)
                for change_id, change, project, script_hash in conn.execute(query(SQL, "sqitch_applied"))]

    def done(self, migrations: list[Migration], applied: list[Applied]) -> set[str]:
        """The plan's changes the registry records; stops where Sqitch would: a deployed change
        the plan no longer has, a pending change whose required change of another project is not
        deployed, or one that conflicts with a deployed change."""
        if not migrations:
            return set()
        project, plan_path = migrations[0].info["project"], migrations[0].info["plan"]
        ours = [a for a in applied if getattr(a, "project", project) == project]
        keys = {m.key for m in migrations}
        if unknown := [a for a in ours if a.key not in keys]:
            named = ", ".join(f"{getattr(a, 'change', '?')} ({a.key[:12]}…)" for a in unknown[:5])
            raise BatchError(
                f"{plan_path}: this database's Sqitch registry has deployed {named}, which sqitch.plan no longer "
                f"has: a change's id is the hash of its plan line and of every change line above it, so a plan "
                f"line edited after it was deployed (its note, date, planner, dependencies) or a change removed "
                f"makes Sqitch lose its place too (`sqitch status`: \"Cannot find this change\"). What to do: "
                f"restore sqitch.plan as it was deployed (git log -p sqitch.plan) and add new changes at its end")
        done = {a.key for a in ours}
        deployed = {(a.project, a.change) for a in applied if isinstance(a, SqitchApplied)}
        seen: set[str] = set()
        for m in migrations:
            if m.key in done:
                seen.add(m.info["change"])
                continue
            where = f"{plan_path} line {m.info['line']}"
            for dep in m.info["requires"]:
                other = dep["project"]
                if other and other != project and dep["change"] and (other, dep["change"]) not in deployed:
                    raise BatchError(f"{where}: {m.info['change']} requires {dep['as_string']} of project {other}, "
                                     f"which this database has not deployed; Sqitch refuses it (\"Missing required "
                                     f"change\"). Deploy {other} first")
            for dep in m.info["conflicts"]:
                name = dep["change"]
                if name and (name in seen or (dep["project"] or project, name) in deployed):
                    raise BatchError(f"{where}: {m.info['change']} conflicts with {dep['as_string']}, which is "
                                     f"deployed; Sqitch refuses it (\"Conflicts with previously deployed change\"). "
                                     f"Revert {dep['as_string']} first, or drop the conflict from the plan")
            seen.add(m.info["change"])
        return done

    def record(self, conn: psycopg.Connection, migration: Migration, *, started: datetime) -> None:
        """What `sqitch deploy` writes once the deploy script succeeded (Role/DBIEngine.pm
        `log_deploy_change`), the registry and the project first where they are missing."""
        info, (name, email) = migration.info, committer()
        with conn.transaction():  # a savepoint inside the script's own transaction, else one of its own
            if not conn.execute(query(SQL, "sqitch_initialized")).fetchone()[0]:
                conn.execute(query(SQL, "sqitch_registry"))
                conn.execute(query(SQL, "sqitch_register_release"), {"name": name, "email": email})
            _register_project(conn, info, name, email)
            conn.execute(query(SQL, "sqitch_lock"))
            if info["parent"]:  # tags planned on the change before it since that was deployed
                for tag in info["parent"]["tags"]:
                    conn.execute(query(SQL, "sqitch_log_new_tag"), {
                        **_tag_row(tag), "project": info["project"], "change_id": info["parent"]["change_id"],
                        "name": name, "email": email})
            row = _row(info, name, email)
            conn.execute(query(SQL, "sqitch_record_change"), {**row, "script_hash": migration.checksum})
            for dep in info["requires"] + info["conflicts"]:
                # a missing required change leaves dependency_id NULL, which the registry's own
                # CHECK refuses: the change's transaction rolls back with it
                conn.execute(query(SQL, "sqitch_record_dependency"), {
                    "change_id": migration.key, "type": "conflict" if dep["conflicts"] else "require",
                    "dependency": dep["as_string"],
                    "dependency_id": None if dep["conflicts"] else _resolve(conn, dep, info["project"])})
            for tag in info["tags"]:
                conn.execute(query(SQL, "sqitch_record_tag"), {**row, **_tag_row(tag)})
            conn.execute(query(SQL, "sqitch_event"), {
                **row, "event": "deploy", "tags": [t["tag"] for t in info["tags"]],
                "requires": [d["as_string"] for d in info["requires"]],
                "conflicts": [d["as_string"] for d in info["conflicts"]]})

    def forget(self, conn: psycopg.Connection, migration: Migration) -> None:
        """What `sqitch revert` writes once the revert script succeeded (Engine/pg.pm
        `log_revert_change`): tags and change deleted, a 'revert' event naming them."""
        info, (name, email) = migration.info, committer()
        with conn.transaction():
            if not conn.execute(query(SQL, "sqitch_initialized")).fetchone()[0]:
                return
            conn.execute(query(SQL, "sqitch_lock"))
            key = {"change_id": migration.key}
            tags = [t for (t,) in conn.execute(query(SQL, "sqitch_forget_tags"), key)]
            requires, conflicts = conn.execute(query(SQL, "sqitch_dependencies_of"), key).fetchone()
            conn.execute(query(SQL, "sqitch_forget_change"), key)
            conn.execute(query(SQL, "sqitch_event"), {
                **_row(info, name, email), "event": "revert", "tags": tags, "requires": requires,
                "conflicts": conflicts})


def committer() -> tuple[str, str]:
    """Who deployed, as the registry's committer_*: Sqitch's own SQITCH_FULLNAME / SQITCH_EMAIL
    when the worker sets them, else gonogo on this host (it is gonogo that ran the change)."""
    return (os.environ.get("SQITCH_FULLNAME") or "gonogo",
            os.environ.get("SQITCH_EMAIL") or f"gonogo@{socket.gethostname()}")


def _row(info: dict, name: str, email: str) -> dict:
    return {"change_id": info["change_id"], "change": info["change"], "project": info["project"],
            "note": info["note"], "name": name, "email": email, "planned_at": _ts(info["timestamp"]),
            "planner_name": info["planner_name"], "planner_email": info["planner_email"]}


def _tag_row(tag: dict) -> dict:
    return {"tag_id": tag["id"], "tag": tag["tag"], "note": tag["note"], "planned_at": _ts(tag["timestamp"]),
            "planner_name": tag["planner_name"], "planner_email": tag["planner_email"]}


def _ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def _register_project(conn: psycopg.Connection, info: dict, name: str, email: str) -> None:
    """Role/DBIEngine.pm `register_project`: a project registered with another URI stops the
    deploy (here: the change's transaction)."""
    project, uri = info["project"], info["uri"]
    found = conn.execute(query(SQL, "sqitch_project_uri"), {"project": project}).fetchone()
    if found is not None:
        if found[0] != uri:
            import psycopg

            raise psycopg.errors.RaiseException(
                f"Sqitch project {project} is registered with URI {found[0]}, sqitch.plan says {uri}: make %uri the "
                f"same as the registry's")
        return
    conn.execute(query(SQL, "sqitch_register_project"), {"project": project, "uri": uri, "name": name,
                                                         "email": email})


def _resolve(conn: psycopg.Connection, dep: dict, project: str) -> str | None:
    """Role/DBIEngine.pm `change_id_for` as `check_deploy_dependencies` calls it (first => 1)."""
    params = {"project": dep["project"] or project, "change": dep["change"],
              "tag": f"@{dep['tag']}" if dep["tag"] else None, "change_id": dep["id"]}
    if dep["id"] and not dep["change"]:
        name = "sqitch_change_by_id"
    elif dep["change"] and dep["tag"]:
        name = "sqitch_change_as_of_tag"
    elif dep["change"]:
        name = "sqitch_change_first"
    else:
        name = "sqitch_change_of_tag"
    row = conn.execute(query(SQL, name), params).fetchone()
    return row[0] if row else None


def _info(plan: Plan, change: PlanChange) -> dict:
    """What record() and forget() write, from the plan."""
    def dep(d: Dependency) -> dict:
        return {"conflicts": d.conflicts, "project": d.project, "change": d.change, "tag": d.tag, "id": d.id,
                "as_string": d.as_string(plan.project)}

    def tags(c: PlanChange) -> list[dict]:
        return [{"id": t.id, "tag": f"@{t.name}", "note": t.note, "timestamp": t.timestamp,
                 "planner_name": t.planner_name, "planner_email": t.planner_email} for t in c.tags]
    return {"plan": str(plan.path), "line": change.line, "project": plan.project, "uri": plan.uri,
            "change": change.name, "change_id": change.id, "note": change.note, "timestamp": change.timestamp,
            "planner_name": change.planner_name, "planner_email": change.planner_email,
            "requires": [dep(d) for d in change.requires], "conflicts": [dep(d) for d in change.conflicts],
            "tags": tags(change),
            "parent": {"change_id": change.parent.id, "tags": tags(change.parent)} if change.parent else None}


def _verify_file(path: Path) -> SqlFile:
    """verify/<change>.sql as gonogo runs a contract: inside a transaction it rolls back itself.
    The script's own BEGIN ... ROLLBACK (what `sqitch add` writes) would end that transaction
    early, so those statements are left out; the others keep their lines."""
    verify = read_sql_file(path, mode=STATEMENTS)
    return dataclasses.replace(verify, statements=tuple(s for s in verify.statements
                                                        if not s.is_transaction_control))


def script_stem(folder: Path, change: PlanChange) -> str:
    """The script's path under deploy/ without .sql (Change.pm `path_segments`): the change's
    name, or for an earlier version of a reworked change <name>@<tag>, the first of its rework
    tags whose file exists (else the first)."""
    if not change.rework_tags:
        return change.name
    candidates = [f"{change.name}@{t.name}" for t in change.rework_tags]
    return next((c for c in candidates if (folder / "deploy" / f"{c}.sql").is_file()), candidates[0])


def _check_config(path: Path) -> None:
    """sqitch.conf: gonogo reads the pg engine, the default layout and the registry `sqitch`."""
    if not path.is_file():
        raise BatchError(f"{path.parent}: sqitch.plan but no sqitch.conf; Sqitch's layout is sqitch.plan and "
                         f"sqitch.conf (from `sqitch init --engine pg`). Point at the folder that holds both")
    section = ""
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if header := re.match(r'^\[\s*([^\]\s"]+)(?:\s+"([^"]*)")?\s*\]$', line):
            section = header[1].lower() + (f".{header[2]}" if header[2] else "")
            continue
        key, _, value = (part.strip() for part in line.partition("="))
        value, key = value.strip('"'), key.lower()
        where = f"{path} line {number}"
        if section == "core" and key == "engine" and value != "pg":
            raise BatchError(f"{where}: engine {value}; gonogo rolls out PostgreSQL changes, Sqitch's pg engine")
        default = _LAYOUT_DEFAULTS.get(key)
        if section in ("core", "engine.pg") and default and re.sub(r"^\./|/$", "", value) != default:
            raise BatchError(f"{where}: {section}.{key} = {value} moves the plan or the scripts; gonogo reads "
                             f"Sqitch's default layout (sqitch.plan, deploy/ revert/ verify/). Use it, or point "
                             f"gonogo at the folder that holds them")
        if key == "registry" and value != "sqitch":
            raise BatchError(f"{where}: registry {value}; gonogo writes Sqitch's default registry schema "
                             f"`sqitch`. Use it")


def _note(raw: str | None) -> str:
    """Plan/Line.pm: trimmed, then \\\\ \\n \\r unescaped."""
    note = (raw or "").strip()
    return re.sub(r"\\[\\nr]", lambda m: _UNESCAPE[m.group(0)], note)


def _sha1(kind: str, info: str) -> str:
    data = info.encode("utf-8")
    return hashlib.sha1(f"{kind} {len(data)}\0".encode() + data).hexdigest()


def canonical_uri(uri: str) -> str:
    """URI->canonical for the usual http(s) URIs: scheme and host lowercased, the default port dropped."""
    found = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)$", uri)
    if not found:
        return uri
    scheme, host, rest = found[1].lower(), found[2].lower(), found[3]
    host = re.sub(r":(80)$", "", host) if scheme == "http" else re.sub(r":(443)$", "", host) if scheme == "https" \
        else host
    return f"{scheme}://{host}{rest or ('/' if scheme in ('http', 'https') else '')}"


def parse_plan(path: Path) -> Plan:
    """sqitch.plan as App/Sqitch/Plan.pm `_parse` reads it, with every change's and tag's id."""
    def error(number: int, what: str, todo: str = "fix the line as `sqitch add` writes it: name [dependencies] "
                                                  "date planner <email> # note") -> BatchError:
        return BatchError(f"{path} line {number}: {what}. What to do: {todo}")

    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(raw.count(b"\n", 0, exc.start) + 1, "not UTF-8", "save sqitch.plan as UTF-8") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    pragmas: dict[str, str] = {}
    number = 0
    for number, line in enumerate(lines, start=1):  # the header: pragmas up to the first blank line
        line = line.removesuffix("\r")
        if blank := _BLANK.match(line):
            if not blank["note"]:
                break
            continue
        line = re.sub(r"[ \t]*(?:#[ \t]*.*)?$", "", line, count=1)
        pragma = _PRAGMA.match(line)
        if not pragma:
            raise error(number, "Invalid pragma; a blank line must come between pragmas and changes",
                        "put a blank line between the %pragmas and the first change")
        pragmas[pragma["name"]] = pragma["value"] or "1"
    else:
        number = len(lines)
    project = pragmas.get("project")
    if not project:
        raise BatchError(f"{path}: Missing %project pragma. What to do: start the plan with "
                         f"%project=<name> (`sqitch init` writes it)")
    if not re.fullmatch(NAME, project):
        raise error(1, f"invalid project name {project!r}", "give %project a name without blanks, @ : # \\")
    uri = pragmas.get("uri")
    changes: list[PlanChange] = []
    line_of: dict[str, int] = {}         # changes and tags up to the last tag: name -> line
    since_tag: dict[str, int] = {}       # changes since the last tag
    by_name: dict[str, PlanChange] = {}
    section: list[PlanChange] = []
    prev: PlanChange | None = None
    for number, line in enumerate(lines[number:], start=number + 1):
        line = line.removesuffix("\r")
        if _BLANK.match(line):
            continue
        note = ""
        if found := re.search(r"[ \t]*#[ \t]*(.*)$", line):
            note, line = _note(found[1]), line[:found.start()]
        else:
            line = line.rstrip(" \t")
        m = _LINE.match(line)
        if not m or not m["name"] or (not m["ts"] and re.search(_TIMESTAMP, line)):
            raise error(number, "Invalid name; names must not begin with punctuation, contain \"@\", \":\", "
                                "\"#\", \"\\\", or blanks, or end in punctuation or digits following punctuation")
        if not m["ts"] and not m["planner_name"]:
            raise error(number, "Missing timestamp and planner name and email")
        if not m["ts"]:
            raise error(number, "Missing timestamp")
        if not m["planner_name"]:
            raise error(number, "Missing planner name and email")
        name = m["name"]
        if name in ("ROOT", "HEAD"):
            raise error(number, f"\"{'@' if m['at'] else ''}{name}\" is a reserved name", "rename it")
        if re.match(r"^[0-9a-f]{40}", name):
            raise error(number, f"\"{name}\" is invalid because it could be confused with a SHA1 ID", "rename it")
        planner = (m["planner_name"], m["planner_email"])
        if m["at"]:
            if "/" in name:
                raise error(number, f"Tag \"{name}\" contains illegal character /", "rename the tag")
            if prev is None:
                raise error(number, f"Tag \"{name}\" declared without a preceding change",
                            "tag a change: put the tag after it")
            if f"@{name}" in line_of:
                raise error(number, f"Tag \"{name}\" duplicates earlier declaration on line {line_of['@' + name]}",
                            "give the tag another name")
            if m["deps"]:
                raise error(number, "Tags may not specify dependencies", "remove the [...] from the tag")
            _check_dependencies(path, project, line_of, section)
            section = []
            prev.tags.append(PlanTag(name, number, m["ts"], *planner, note))
            line_of.update(since_tag)
            line_of[f"@{name}"] = number
            since_tag = {}
            continue
        if m["operator"] == "-":
            raise error(number, f"-{name} plans a revert of {name} inside the plan; gonogo deploys changes only",
                        "remove the line (revert with `sqitch revert`)")
        if name in since_tag:
            raise error(number, f"Change \"{name}\" duplicates earlier declaration on line {since_tag[name]}",
                        "tag the plan between the two (`sqitch tag`), then `sqitch rework` the change")
        requires, conflicts, seen = [], [], set()
        for spec in (m["deps"] or "").split():
            d = _DEPENDENCY.match(spec)
            if not d:
                raise error(number, f"\"{spec}\" is not a valid dependency specification",
                            "write [change], [change@tag], [@tag], [project:change] or [!conflict]")
            if spec in seen:
                raise error(number, f"Duplicate dependency \"{spec}\"", "name it once")
            seen.add(spec)
            dep = Dependency(conflicts=bool(d["conflicts"]), project=d["project"], change=d["change"],
                             tag=d["tag"] or d["only_tag"], id=d["id"])
            (conflicts if dep.conflicts else requires).append(dep)
        change = PlanChange(name, number, m["ts"], *planner, note, requires, conflicts, prev)
        if duped := by_name.get(name):  # a rework: the earlier one's scripts become <name>@<tag>.sql
            later = changes[next(i for i, c in enumerate(changes) if c is duped) + 1:]
            duped.rework_tags.extend([t for c in reversed(later) for t in c.tags] + duped.tags)
        by_name[name] = change
        since_tag[name] = number
        section.append(change)
        changes.append(change)
        prev = change
    _check_dependencies(path, project, line_of, section)
    for change in changes:
        change.id = _change_id(project, uri, change)
        for tag in change.tags:
            tag.id = _sha1("tag", "\n".join([
                f"project {project}", *([f"uri {canonical_uri(uri)}"] if uri else []), f"tag @{tag.name}",
                f"change {change.id}", f"planner {tag.planner_name} <{tag.planner_email}>", f"date {tag.timestamp}",
                *(["", tag.note] if tag.note not in ("", "0") else [])]))
    return Plan(path=path, project=project, uri=uri, changes=changes)


def _change_id(project: str, uri: str | None, change: PlanChange) -> str:
    """Change.pm `info` / `id` (a note of "0" is false in Perl, so left out like an empty one)."""
    requires = "\n  + ".join(d.as_string(project) for d in change.requires)
    conflicts = "\n  - ".join(d.as_string(project) for d in change.conflicts)
    return _sha1("change", "\n".join([
        f"project {project}", *([f"uri {canonical_uri(uri)}"] if uri else []), f"change {change.name}",
        *([f"parent {change.parent.id}"] if change.parent else []),
        f"planner {change.planner_name} <{change.planner_email}>", f"date {change.timestamp}",
        *([f"requires\n  + {requires}"] if requires else []), *([f"conflicts\n  - {conflicts}"] if conflicts else []),
        *(["", change.note] if change.note not in ("", "0") else [])]))


def _check_dependencies(path: Path, project: str, line_of: dict[str, int], section: list[PlanChange]) -> None:
    """Plan.pm `check_changes`: a change requires only what the plan has above it."""
    position: dict[str, int] = {}
    for i, change in enumerate(section, start=1):
        for dep in change.requires:
            if (dep.project is not None and dep.project != project) or (dep.project is None and dep.id):
                continue  # another project's, or an id: Sqitch looks it up in the registry
            key = dep.key_name()
            if dep.change and dep.tag:
                if f"@{dep.tag}" in line_of and dep.change in line_of and line_of[dep.change] < line_of[f"@{dep.tag}"]:
                    continue
            elif key in line_of or key in position:
                continue
            if key == change.name:
                what = f"Change \"{change.name}\" cannot require itself"
            elif dep.change in position or key in {c.name for c in section[i:]}:
                what = f"Change \"{change.name}\" is planned before required change \"{key}\""
            else:
                what = f"Unknown change \"{key}\" required by change \"{change.name}\""
            raise BatchError(f"{path} line {change.line}: {what}. What to do: plan the required change above it, "
                             f"or fix the name in [...]")
        position[change.name] = i


TOOL = Sqitch()
