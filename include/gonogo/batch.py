"""A batch of migrations: one folder with manifest.yaml, migrations/ and rollbacks/.

Loading a batch validates all of it before anything runs: the manifest against
manifest.schema.json, every file present and parseable by PostgreSQL's parser, orders
unique, and a rollback for every step. Every problem found is reported at once, each
naming the file and what to do.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml

from gonogo.batches import SHIPPED_BATCHES, available_batches, batches_dir  # noqa: F401 (re-exported)
from gonogo.errors import BatchError
from gonogo.queries import Query, load_queries
from gonogo.statements import (DbObject, SqlSyntaxError, Statement, created_objects, parse_script,
                               referenced_tables)

_SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")


@dataclass(frozen=True)
class SqlFile:
    path: Path
    text: str = field(repr=False)
    statements: tuple[Statement, ...] = field(repr=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass(frozen=True)
class Thresholds:
    """The batch's gate thresholds (manifest `thresholds`), with the defaults gonogo ships."""

    lock_budget_seconds: float = 1.0
    lock_wait_seconds: float = 1.0
    latency_ratio: float = 1.5
    latency_floor_ms: float = 2.0
    explain_runs: int = 5


@dataclass(frozen=True)
class Contract:
    """A contract check: SQL run in a transaction that is rolled back; an error means it broke.
    `after` is the step from which on it must hold (None: before the batch too)."""

    file: SqlFile
    after: str | None = None

    @property
    def name(self) -> str:
        return self.file.path.stem


@dataclass(frozen=True)
class Step:
    order: int
    kind: str
    forward: SqlFile
    rollback: SqlFile
    verify: SqlFile | None = None
    precheck: SqlFile | None = None
    enabled: bool = True
    disabled_reason: str = ""
    lock_timeout: str | None = None

    @property
    def name(self) -> str:
        """The migration's file name without .sql: what a DBA calls the step."""
        return self.forward.path.stem

    def creates(self) -> list[DbObject]:
        return created_objects(list(self.forward.statements))

    def tables(self) -> set[str]:
        return referenced_tables(list(self.forward.statements))


@dataclass(frozen=True)
class Batch:
    id: str
    title: str
    path: Path
    steps: tuple[Step, ...]
    restore_point: str
    required_tables: tuple[str, ...] = ()
    integrity_checks: SqlFile | None = None
    expected_schema: SqlFile | None = None
    queries: tuple[Query, ...] = ()
    contracts: tuple[Contract, ...] = ()
    thresholds: Thresholds = Thresholds()

    @property
    def enabled_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.enabled)

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise BatchError(f"batch {self.id} has no step named {name!r}")

    def tables_needed(self) -> list[str]:
        """The manifest's required tables plus every table the enabled steps touch."""
        touched = set().union(*(s.tables() for s in self.enabled_steps))
        return sorted(set(self.required_tables) | touched)

    def summary(self) -> dict:
        """What the batch will do, for the log and XCom: steps in order, disabled ones, checksums."""
        return {"id": self.id, "title": self.title,
                "steps": [{"order": s.order, "name": s.name, "kind": s.kind, "enabled": s.enabled,
                           "creates": [o.label() for o in s.creates()]} for s in self.steps],
                "checksums": self.checksums()}

    def checksums(self) -> dict[str, str]:
        """sha256 of every file the batch runs, keyed by its path relative to the batch folder."""
        files = [f for s in self.steps for f in (s.forward, s.rollback, s.verify, s.precheck) if f]
        files += [f for f in (self.integrity_checks, self.expected_schema) if f]
        files += [c.file for c in self.contracts]
        return {os.path.relpath(f.path, self.path): f.sha256 for f in files}


@functools.cache
def _schema() -> dict:
    return json.loads(_SCHEMA_PATH.read_text())


def load_batch(batch_id: str, root: Path | None = None) -> Batch:
    root = Path(root or batches_dir())
    folder = root / batch_id
    manifest_path = folder / "manifest.yaml"
    if not manifest_path.is_file():
        known = ", ".join(available_batches(root)) or "none"
        raise BatchError(
            f"batch {batch_id!r}: no manifest at {manifest_path}. A batch is a folder under "
            f"{root} with manifest.yaml, migrations/ and rollbacks/ (known batches: {known}).")
    manifest = _read_manifest(manifest_path)

    problems: list[str] = []
    if manifest["id"] != folder.name:
        problems.append(f"id {manifest['id']!r} differs from the folder name {folder.name!r}; make them equal")

    def sql_file(rel: str, what: str) -> SqlFile | None:
        path = (folder / rel).resolve()
        if not path.is_file():
            problems.append(f"{what}: {rel} does not exist")
            return None
        text = path.read_bytes().decode()  # as on disk: the checksum is of the file's bytes
        try:
            statements = parse_script(text)
        except SqlSyntaxError as exc:
            problems.append(f"{what}: {rel} {exc}")
            return None
        if not statements:
            problems.append(f"{what}: {rel} has no SQL statement (an intentional no-op rollback "
                            f"should say so in a comment and run e.g. SELECT 1)")
            return None
        return SqlFile(path=path, text=text, statements=tuple(statements))

    def query_file(rel: str, what: str) -> SqlFile | None:
        """A check: one SELECT whose rows are the problems found."""
        found = sql_file(rel, what)
        if found and (len(found.statements) != 1 or found.statements[0].kind != "SelectStmt"):
            problems.append(f"{what}: {rel} must hold exactly one SELECT (zero rows = clean), "
                            f"found {', '.join(s.kind for s in found.statements)}")
            return None
        return found

    steps: list[Step] = []
    orders = [s["order"] for s in manifest["steps"]]
    if orders != sorted(set(orders)):
        problems.append(f"step orders must be unique and ascending in the list, got {orders}")
    for raw in manifest["steps"]:
        what = f"step {raw['order']} ({Path(raw['file']).name})"
        forward = sql_file(raw["file"], what)
        rollback = sql_file(raw["rollback"], f"{what} rollback")
        verify = query_file(raw["verify"], f"{what} verify") if "verify" in raw else None
        precheck = query_file(raw["precheck"], f"{what} precheck") if "precheck" in raw else None
        if raw.get("enabled", True) is False and not raw.get("disabled_reason"):
            problems.append(f"{what} is disabled: say why in disabled_reason")
        if forward and rollback:
            steps.append(Step(order=raw["order"], kind=raw["kind"], forward=forward, rollback=rollback,
                              verify=verify, precheck=precheck, enabled=raw.get("enabled", True),
                              disabled_reason=raw.get("disabled_reason", ""),
                              lock_timeout=raw.get("lock_timeout")))
    names = [s.name for s in steps]
    if len(names) != len(set(names)):
        problems.append("two steps use the same migration file")

    checks = None
    if "integrity_checks" in manifest:
        checks = query_file(manifest["integrity_checks"], "integrity_checks")
    expected = sql_file(manifest["expected_schema"], "expected_schema") if "expected_schema" in manifest else None
    contracts = []
    for raw in manifest.get("contracts", ()):
        if raw.get("after") and raw["after"] not in {Path(s["file"]).stem for s in manifest["steps"]}:
            problems.append(f"contract {raw['file']}: after {raw['after']!r} is not a step of this batch")
        if found := sql_file(raw["file"], f"contract {Path(raw['file']).name}"):
            contracts.append(Contract(file=found, after=raw.get("after")))
    queries: tuple[Query, ...] = ()
    if "top_queries" in manifest:
        try:
            queries = load_queries((folder / manifest["top_queries"]).resolve(),
                                   (folder / manifest["query_params"]).resolve() if "query_params" in manifest else None)
        except BatchError as exc:
            problems.append(str(exc))

    if problems:
        raise BatchError(f"batch {batch_id!r} ({manifest_path}) is not valid:\n"
                         + "\n".join(f"  - {p}" for p in problems))
    return Batch(id=manifest["id"], title=manifest["title"], path=folder, steps=tuple(steps),
                 restore_point=manifest.get("restore_point", f"gonogo_pre_{manifest['id']}")[:63],
                 required_tables=tuple(manifest.get("required_tables", ())),
                 integrity_checks=checks, expected_schema=expected, queries=queries,
                 contracts=tuple(contracts), thresholds=Thresholds(**manifest.get("thresholds", {})))


def _read_manifest(path: Path) -> dict:
    try:
        manifest = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise BatchError(f"{path} is not valid YAML: {exc}") from None
    errors = sorted(jsonschema.Draft202012Validator(_schema()).iter_errors(manifest),
                    key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  - {_where(e)}: {e.message}" for e in errors]
        raise BatchError(f"{path} does not match the manifest format "
                         f"({_SCHEMA_PATH.name}):\n" + "\n".join(lines))
    return manifest


def _where(error: jsonschema.ValidationError) -> str:
    parts = ["manifest"]
    for item in error.absolute_path:
        parts.append(f"[{item}]" if isinstance(item, int) else f".{item}")
    return "".join(parts)
