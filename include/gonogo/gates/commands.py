"""The team's own checks as gates: `npm test -- db_contract`, `pytest tests/db`,
`npx prisma migrate diff --exit-code`, run after a migration on the staging copy or
read-only against production.

The database reaches a command only through its environment (DATABASE_URL and the libpq
PG* variables), never its argv; what the command prints is logged line by line as it comes
and its tail kept for the result, with the password and the URL redacted. The command runs in
a process group of its own, so a timeout stops all of it. Exit code 0 is a PASS.

The manifest's `commands:` list is described by COMMANDS_SCHEMA below: merge it into
manifest.schema.json as `properties.commands`.
"""

from __future__ import annotations

import shlex
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema

TARGETS = ("staging", "production")

COMMANDS_SCHEMA = {
    "type": "array",
    "description": "The team's own checks as commands (gonogo.gates.commands). Each runs after its step on "
                   "the staging copy, or read-only against production; exit code 0 is a PASS. The database "
                   "reaches it only through DATABASE_URL and the PG* variables.",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "run"],
        "properties": {
            "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,100}$",
                     "description": "What the report calls it, e.g. db_contract; unique in the batch."},
            "run": {"oneOf": [
                {"type": "string", "minLength": 1,
                 "description": "Split like a shell would (shlex), but run without a shell unless shell: true."},
                {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1},
                 "description": "The argv, as is."}]},
            "shell": {"type": "boolean", "default": False,
                      "description": "Run `run` (a string) with /bin/sh -c: pipes, &&, globs."},
            "cwd": {"type": "string", "minLength": 1,
                    "description": "Working directory, relative to the batch folder; absent: the batch folder."},
            "after": {"type": "string", "minLength": 1,
                      "description": "The step (migration file name without .sql) after which it runs; "
                                     "absent: before the batch."},
            "target": {"enum": list(TARGETS), "default": "staging",
                       "description": "staging: the restored copy; production: read-only sessions "
                                      "(default_transaction_read_only=on), e.g. for a drift check."},
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "default": 600,
                                "description": "The whole process group is stopped after this long: a FAIL."},
            "env": {"type": "object", "additionalProperties": {"type": "string"},
                    "propertyNames": {"not": {"pattern": "^(DATABASE_URL$|PG)"}},
                    "description": "Extra variables, not secrets (they are in the repo). DATABASE_URL and "
                                   "PG* are gonogo's: it sets them to the target."},
        },
    },
}
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
    errors = jsonschema.Draft202012Validator(COMMANDS_SCHEMA["items"]).iter_errors(item)
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
