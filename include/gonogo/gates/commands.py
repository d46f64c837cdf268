"""The team's own checks as gates: `npm test -- db_contract`, `pytest tests/db`,
`npx prisma migrate diff --exit-code`, run after a migration on the staging copy or
read-only against production.

The database reaches a command only through its environment (DATABASE_URL and the libpq
PG* variables), never its argv; what the command prints is logged line by line as it comes
and its tail kept for the result, with the password and the URL redacted. The command runs in
a process group of its own, so a timeout stops all of it. Exit code 0 is a PASS.

The manifest's `commands:` list is described in manifest.schema.json.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import quote, quote_plus, urlencode

import jsonschema

from gonogo.apply.progress import duration
from gonogo.results import GateResult, Verdict
from gonogo.postgres.target import SessionGuards, Target

Log = Callable[[str], None]

TARGETS = ("staging", "production")
TAIL_LINES = 40        # lines of output kept for the result (memory stays bounded, whatever it prints)
MESSAGE_LINES = 5      # of those, the last ones quoted in the message
LINE_CHARS = 2000      # a longer line is cut when shown
_READ_LIMIT = 64 * 1024  # bytes of one line held at once; the rest of a longer line is read and dropped
GRACE_SECONDS = 5.0    # between SIGTERM and SIGKILL
_APP_NAME_MAX = 63     # libpq keeps NAMEDATALEN - 1 bytes
_PROC = Path("/proc")

def _items_schema() -> dict:
    """One entry of the manifest's `commands:` list (manifest.schema.json, the one description)."""
    from gonogo.batch import manifest_schema

    return manifest_schema()["properties"]["commands"]["items"]
"""JSON-schema fragment for the manifest's `commands:`; commands_from_manifest checks against it too."""


@dataclass(frozen=True)
class Command:
    """A team's check: `run` is an argv (a string is split with shlex) unless `shell` is set,
    then it is one string for /bin/sh -c. `after` None: before the batch."""

    name: str
    run: tuple[str, ...] | str
    cwd: Path
    after: str | None = None
    target: str = "staging"
    timeout_seconds: float = 600
    env: dict[str, str] = field(default_factory=dict)
    shell: bool = False

    def __post_init__(self):
        if self.target not in TARGETS:  # anything else would quietly run without read-only sessions
            raise ValueError(f"command {self.name}: target must be one of {', '.join(TARGETS)}, not {self.target!r}")
        if self.shell and not isinstance(self.run, str):
            raise ValueError(f"command {self.name}: shell: true takes `run` as one string")
        if not self.shell:
            run = shlex.split(self.run) if isinstance(self.run, str) else self.run
            object.__setattr__(self, "run", tuple(run))
        object.__setattr__(self, "cwd", Path(self.cwd))

    @property
    def read_only(self) -> bool:
        return self.target == "production"

    @property
    def program(self) -> str:
        return self.run.split()[0] if isinstance(self.run, str) else self.run[0]

    def display(self) -> str:
        """The command line as a person would type it."""
        return self.run if isinstance(self.run, str) else shlex.join(self.run)


# -- the manifest -----------------------------------------------------------------------------

def commands_from_manifest(raw: list[dict], batch_folder: Path, *,
                           steps: Collection[str] | None = None) -> tuple[list[Command], list[str]]:
    """The manifest's `commands:` as Commands, and every problem found, each as
    "command NAME: what is wrong and what to do". steps: the batch's step names, to check `after`."""
    commands: list[Command] = []
    problems: list[str] = []
    names: set[str] = set()
    for index, item in enumerate(raw or ()):
        name = item.get("name", f"#{index + 1}") if isinstance(item, dict) else f"#{index + 1}"
        # semantic checks only on an entry of the right shape: they read its fields
        wrong = _schema_problems(item) or _semantic_problems(item, batch_folder, steps)
        if name in names:
            wrong.append("another command has this name; rename one")
        names.add(name)
        problems.extend(f"command {name}: {w}" for w in wrong)
        if not wrong:
            commands.append(_command(item, batch_folder))
    return commands, problems


def _schema_problems(item) -> list[str]:
    errors = jsonschema.Draft202012Validator(_items_schema()).iter_errors(item)
    return [f"{'.'.join(map(str, e.absolute_path)) or 'entry'}: {e.message}; see the `commands` "
            f"entry of manifest.schema.json" for e in sorted(errors, key=lambda e: list(e.absolute_path))]


def _semantic_problems(item: dict, batch_folder: Path, steps: Collection[str] | None) -> list[str]:
    problems = []
    if isinstance(item["run"], str) and not item.get("shell"):
        try:
            shlex.split(item["run"])
        except ValueError as exc:
            problems.append(f"run: {exc} (an unclosed quote?); quote it as a shell would, or give a list")
    if item.get("shell") and not isinstance(item["run"], str):
        problems.append("shell: true takes `run` as one string; join the list, or drop shell")
    cwd = _cwd(item, batch_folder)
    if not cwd.is_dir():
        problems.append(f"cwd {item.get('cwd', '.')} is not a folder ({cwd}); create it, or correct the "
                        f"path (relative to the batch folder)")
    if steps is not None and item.get("after") and item["after"] not in steps:
        problems.append(f"after {item['after']!r} is not a step of this batch; name a migration file "
                        f"without .sql, or leave `after` out to run before the batch")
    return problems


def _cwd(item: dict, batch_folder: Path) -> Path:
    return (Path(batch_folder) / item.get("cwd", ".")).resolve()


def _command(item: dict, batch_folder: Path) -> Command:
    return Command(name=item["name"], run=item["run"],
                   cwd=_cwd(item, batch_folder), after=item.get("after"), target=item.get("target", "staging"),
                   timeout_seconds=item.get("timeout_seconds", 600), env=dict(item.get("env", {})),
                   shell=item.get("shell", False))


# -- the environment ----------------------------------------------------------------------------

def _inherited(name: str) -> bool:
    """The worker's variables a command keeps: none that could point it at another database
    (PG*, DATABASE_URL) or hand it Airflow's connections, variables and settings."""
    return not (name == "DATABASE_URL" or name.startswith(("PG", "AIRFLOW", "_AIRFLOW")))


def command_env(command: Command, target: Target, *, app: str,
                guards: SessionGuards = SessionGuards()) -> dict[str, str]:
    """The command's environment: the worker's (less what _inherited drops), the command's own
    `env`, and the target's login as DATABASE_URL and PG*. On production every session is
    read-only from its first statement and carries the session guards, both as PGOPTIONS and in
    the URL's `options` (a client that reads only the URL gets them too). The server enforces it
    against a command that writes by mistake; one that runs SET default_transaction_read_only = off
    on purpose is stopped only by a role without write privileges (e.g. pg_read_all_data)."""
    app_name = f"gonogo/{app}/command"[:_APP_NAME_MAX]
    options = f"-c default_transaction_read_only=on {guards.options()}" if command.read_only else ""
    database = {**target.libpq_env(), "PGAPPNAME": app_name,
                "DATABASE_URL": database_url(target, application_name=app_name, options=options)}
    if options:
        database["PGOPTIONS"] = options
    return {**{k: v for k, v in os.environ.items() if _inherited(k)}, **command.env, **database}


def database_url(target: Target, *, application_name: str, options: str = "") -> str:
    """postgresql:// URL of the target, every part percent-encoded (libpq reads no '+' as a space)."""
    host = "" if target.host.startswith("/") else (f"[{target.host}]" if ":" in target.host else target.host)
    params = {"host": target.host} if not host else {}
    params.update({k: v for k, v in (("sslmode", target.sslmode), ("application_name", application_name),
                                     ("options", options)) if v})
    login = quote(target.user, safe="") + (f":{quote(target.password, safe='')}" if target.password else "")
    return (f"postgresql://{login}@{host}:{target.port}/{quote(target.dbname, safe='')}"
            f"?{urlencode(params, quote_via=quote, safe='')}")


def _secrets(env: dict[str, str]) -> dict[str, str]:
    """What must never be shown, with what is shown instead."""
    password = env.get("PGPASSWORD", "")
    hidden = {env["DATABASE_URL"]: "[DATABASE_URL]"}
    if password:
        hidden.update({form: "[password]" for form in (password, quote(password, safe=""), quote_plus(password))})
    return hidden


def redact(text: str, secrets: dict[str, str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):  # the URL whole, before the password in it
        text = text.replace(secret, secrets[secret])
    return text


# -- running it -----------------------------------------------------------------------------------

@dataclass
class _Output:
    """The command's output as it comes: each line redacted, logged, and the last TAIL_LINES kept.
    Read in a thread; `close` takes the tail, after which late lines are dropped."""

    secrets: dict[str, str]
    log: Log
    prefix: str
    tail: deque = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    lines: int = 0
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self, stream: IO[bytes]) -> None:
        for raw in _lines(stream):
            line = _shown(redact(raw.decode("utf-8", "replace").rstrip("\r\n"), self.secrets))
            with self.lock:
                if self.closed:
                    return
                self.tail.append(line)
                self.lines += 1
            self.log(f"{self.prefix}{line}")

    def close(self) -> list[str]:
        with self.lock:
            self.closed = True
            return list(self.tail)


def _lines(stream: IO[bytes]) -> Iterator[bytes]:
    """Lines of at most _READ_LIMIT bytes: the rest of a longer line is read and dropped."""
    while line := stream.readline(_READ_LIMIT):
        rest = line
        while not rest.endswith(b"\n") and len(rest) == _READ_LIMIT:
            rest = stream.readline(_READ_LIMIT)
        yield line


def _shown(line: str) -> str:
    """Cut after redaction, and far inside _READ_LIMIT, so no secret is shown in part."""
    return line if len(line) <= LINE_CHARS else f"{line[:LINE_CHARS]} … (cut, {len(line)} characters)"


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs. Zombies do not count: dead, they wait for a reaper
    that in a container (PID 1 not an init) may be slow or absent. Without /proc: any member counts."""
    if not _PROC.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in _PROC.glob("[0-9]*/stat"):
        try:
            state, _ppid, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError):
            continue  # ended while we looked
        if int(group) == pgid and state != "Z":
            return True
    return False


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the command's process group, SIGKILL to whatever is left after GRACE_SECONDS.
    Also after a normal exit: a server or watcher the command left behind does not outlive it."""
    _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline and (proc.poll() is None or _group_alive(proc.pid)):
        time.sleep(0.05)
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


@dataclass(frozen=True)
class _Ran:
    exit_code: int | None
    seconds: float
    tail: list[str]
    lines: int
    timed_out: bool = False
    not_started: str = ""  # why the command could not start


def _execute(command: Command, env: dict[str, str], log: Log) -> _Ran:
    output = _Output(_secrets(env), log, prefix=f"[{command.name}] ")
    started = time.monotonic()
    try:
        # stdin closed: a command that prompts (a password, a confirmation) fails instead of hanging
        proc = subprocess.Popen(command.run, shell=command.shell, cwd=command.cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
    except OSError as exc:
        return _Ran(None, time.monotonic() - started, [], 0, not_started=_why_not_started(command, exc))
    reader = threading.Thread(target=output.read, args=(proc.stdout,), daemon=True, name=f"command {command.name}")
    reader.start()
    timed_out = False
    try:
        proc.wait(command.timeout_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:  # also when the task itself is stopped (Airflow raises in it): the command goes with it
        seconds = time.monotonic() - started
        _stop_group(proc)
    # a process that left the group may hold the pipe open: wait for the output a while, not forever
    reader.join(GRACE_SECONDS)
    if not reader.is_alive():
        proc.stdout.close()
    tail = output.close()
    return _Ran(None if timed_out else proc.returncode, seconds, tail, output.lines, timed_out=timed_out)


def _why_not_started(command: Command, exc: OSError) -> str:
    program = command.program
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {program} — install it or fix `run`"
    if isinstance(exc, PermissionError):
        return f"{program} is not executable — chmod +x it, or fix `run`"
    return f"{program} cannot be started: {exc.strerror or exc} — fix `run`"


def run_command(command: Command, target: Target, *, phase: str, subject: str, app: str,
                log: Log = print, guards: SessionGuards = SessionGuards()) -> GateResult:
    """Run the command against the target and judge it by its exit code (gate id `command`).
    guards: production's session guards (the run's lock_timeout); staging sessions get none."""
    if not command.cwd.is_dir():
        ran = _Ran(None, 0.0, [], 0, not_started=f"cwd {command.cwd} is not a folder — create it, or fix `cwd`")
    else:
        log(f"running {command.name}: {command.display()} in {command.cwd}, against {target.describe()}"
            f"{' read-only' if command.read_only else ''}")
        ran = _execute(command, command_env(command, target, app=app, guards=guards), log)
    where = f"{target.name}{' (read-only)' if command.read_only else ''}"
    verdict, value, message, hint = _verdict(command, ran, where)
    last = [line for line in ran.tail if line.strip()][-MESSAGE_LINES:]
    if last and verdict is Verdict.FAIL:
        message += ". Its output ends: " + " | ".join(last)
    log(f"{command.name}: {verdict.value}, {value}")
    return GateResult(
        gate="commands", title=f"Team command: {command.name}", phase=phase, subject=subject, verdict=verdict,
        value=value, threshold=f"exit 0 within {command.timeout_seconds:g} s", message=message, hint=hint,
        details=[{"command": command.name, "run": command.display(), "cwd": str(command.cwd),
                  "target": command.target, "after": command.after or "(before the batch)",
                  "exit_code": ran.exit_code, "timed_out": ran.timed_out, "seconds": round(ran.seconds, 3),
                  "output_lines": ran.lines, "output_tail": "\n".join(ran.tail)}])


def _verdict(command: Command, ran: _Ran, where: str) -> tuple[Verdict, str, str, str]:
    """verdict, value, message, hint"""
    if ran.not_started:
        return (Verdict.FAIL, "not started", ran.not_started,
                "the command runs on the Airflow worker: install it there, or fix `run` or `cwd` in manifest.yaml")
    if ran.timed_out:
        limit = f"{command.timeout_seconds:g} s"  # in the manifest's unit
        return (Verdict.FAIL, f"timed out after {limit}", f"{command.name} on {where} timed out after {limit} "
                f"and was stopped", "find what it waits on (a lock, a prompt, a server it started), or raise "
                "timeout_seconds in manifest.yaml if it needs longer")
    took = duration(ran.seconds)
    if ran.exit_code == 0:
        return Verdict.PASS, f"exit 0 in {took}", f"{command.name} passed on {where}", ""
    if ran.exit_code < 0:  # Popen's way of saying a signal ended it
        ended = f"killed by {signal.Signals(-ran.exit_code).name}"
        return (Verdict.FAIL, f"{ended} after {took}", f"{command.name} on {where} was {ended}",
                "something outside the command stopped it (the OOM killer, an operator): look at the worker")
    hint = ("exit 127: the shell found no such command — install it or fix `run`"
            if command.shell and ran.exit_code == 127 else
            "the app's own check fails against the database as the migration leaves it: read its output "
            "in the details; fix the migration or the check before going on")
    return (Verdict.FAIL, f"exit {ran.exit_code} in {took}",
            f"{command.name} failed on {where} with exit code {ran.exit_code}", hint)
