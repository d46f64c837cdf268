"""A batch of migrations: one folder with manifest.yaml, migrations/ and rollbacks/.

Loading a batch validates all of it before anything runs: the manifest against
manifest.schema.json, every file present and parseable by PostgreSQL's parser, orders
unique, and a rollback for every step. Every problem found is reported at once, each
naming the file and what to do.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema

from gonogo.postgres import timeouts
from gonogo.authoring.limits import long_values, read_yaml
from gonogo.apply.window import Window
from gonogo.watching.analysis import Metric
from gonogo.batches import SHIPPED_BATCHES, available_batches, batches_dir  # noqa: F401 (re-exported)
from gonogo.errors import BatchError
from gonogo.authoring.queries import Query, load_queries
from gonogo.postgres.sqlfile import STATEMENTS, SqlFile, bound_parameters, positional, read_sql_file, with_placeholders
from gonogo.postgres.statements import (DbObject, SqlSyntaxError, added_columns, created_objects, created_tables,
                               parse_script, referenced_tables)
from gonogo.tools import Migration, MigrationTool

_SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")


@dataclass(frozen=True)
class Thresholds:
    """The batch's gate thresholds (manifest `thresholds`), with the defaults gonogo ships."""

    lock_budget_seconds: float = 1.0
    lock_wait_seconds: float = 1.0
    latency_ratio: float = 1.5
    latency_floor_ms: float = 2.0
    explain_runs: int = 5


@dataclass(frozen=True)
class Pace:
    """The pace of the app's traffic that gonogo plays on staging during the dry run (manifest
    `workload`): a query runs at its rate here, else at production's measured one, else at
    default_calls_per_second; all of them scaled by one factor when they add up to more than
    max_calls_per_second (gonogo.rehearsal.workload.paced), and again, while it runs, when the queries keep
    more than max_busy_sessions of one session busy (gonogo.rehearsal.workload's pacer)."""

    rates: dict[str, float] = field(default_factory=dict)
    default_calls_per_second: float = 10.0
    max_calls_per_second: float = 200.0
    max_busy_sessions: float = 0.25


@dataclass(frozen=True)
class WatchConfig:
    """The manifest's `watch`: gonogo's default metrics or not, the poll interval, the errors in
    a row that make the window inconclusive, and the batch's own metrics (gonogo.watching.analysis.Metric)."""

    defaults: bool = True
    interval_seconds: float = 60.0
    error_limit: int = 3
    metrics: tuple = ()
    # readings taken before the batch, one interval apart: the baseline is their intervals'
    # distribution, not one reading (gonogo.watching.judge compares against it)
    baseline_intervals: int = 8


@dataclass(frozen=True)
class Contract:
    """A contract check: SQL run in a transaction that is rolled back; an error means it broke.
    `after` is the step from which on it must hold (None: before the batch too)."""

    file: SqlFile
    after: str | None = None
    once: bool = False  # checked right after its step only (a migration tool's verify script)

    @property
    def name(self) -> str:
        return self.file.path.stem

    def due(self, applied: list[str], just_applied: str | None) -> bool:
        """Whether it must hold now, with `applied` applied and `just_applied` the last of them."""
        if self.once:
            return self.after == just_applied
        return self.after is None or self.after in applied


@dataclass(frozen=True)
class Backfill:
    """A batched backfill of one column, run after the step's file (gonogo.backfill): `batch`
    holds one UPDATE of `table` that sets only `column`, for the rows with
    %(from_key)s < `key` <= %(to_key)s; `query` is that file as psycopg sends it."""

    table: str
    key: str
    column: str
    batch: SqlFile
    query: str = field(repr=False)
    batch_size: int = 500  # ~20 ms of row locks a batch (tests/bench/test_bench_backfill.py)
    pause_ms: int = 0  # a batch commits every ~20 ms: the app's writes interleave anyway; a pause only cost throughput
    vacuum_after: bool = True  # VACUUM (ANALYZE) the table once the backfill finished (backfill.vacuum_after)


BACKFILL_PARAMETERS = ("from_key", "to_key")


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
    backfill: Backfill | None = None
    batch_id: str = ""  # the batch it belongs to (where its history and backfill progress live)
    origin: Migration | None = None  # the migration tool's migration this step is (gonogo.tools)
    rollback_drafted: bool = False   # the rollback is gonogo's draft (gonogo.authoring.drafts), not the team's
    rollback_missing: tuple[str, ...] = ()  # statements no draft can undo: the team must write it

    def __post_init__(self):
        if self.lock_timeout is not None and (wrong := timeouts.problem("lock_timeout", self.lock_timeout)):
            raise BatchError(f"step {self.order} ({self.forward.path.name}): {wrong}")

    @property
    def name(self) -> str:
        """What a DBA calls the step: the tool's name for the migration, or the file name
        without .sql."""
        return self.origin.name if self.origin else self.forward.path.stem

    @property
    def mode(self) -> str:
        """How its file runs: statement by statement, or in one transaction (gonogo.postgres.sqlfile)."""
        return self.forward.mode

    @property
    def runs_as(self) -> str:
        """The mode in words, for the report."""
        return "in one transaction" if self.forward.one_transaction else "statement by statement"

    @property
    def rollback_source(self) -> str:
        """Who wrote the rollback, for the report: a draft is said to be one until reviewed."""
        if self.rollback_drafted:
            return "drafted by gonogo (review it)"
        if self.origin and self.origin.down and self.origin.down.path == self.rollback.path:
            return "the migration tool's down file"
        return "written by the team"

    def creates(self) -> list[DbObject]:
        return created_objects(list(self.forward.statements))

    def tables(self) -> set[str]:
        """The tables the step's file and its backfill's batch file touch."""
        backfill = list(self.backfill.batch.statements) if self.backfill else []
        return referenced_tables([*self.forward.statements, *backfill])


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
    pace: Pace = Pace()
    on_failure: str = "rollback"
    watch: WatchConfig = WatchConfig()
    commands: tuple = ()  # the team's commands as gates (gonogo.gates.commands.Command)
    window: object = None  # gonogo.apply.window.Window: the low-traffic window production changes start in
    approvers: tuple[str, ...] = ()          # Airflow logins or "@group"s who may approve (never the triggerer)
    approvals_required: int = 1              # distinct approvers needed (gonogo.reporting.signoff)
    rollback_executors: tuple[str, ...] = ()  # Airflow logins who may decide roll back / fix forward
    tool: MigrationTool | None = None  # the team's migration tool the steps come from (gonogo.tools)
    source: Path | None = None         # its migrations folder
    applied_before: tuple[Migration, ...] = ()  # the tool's migrations the target has applied already

    @property
    def history_objects(self) -> tuple[str, ...]:
        """Tables and schemas that keep migration history, not the app's schema: gonogo's own
        and the tool's. Schema comparisons leave them out."""
        return ("gonogo.", *(self.tool.history if self.tool else ()))

    def require_rollbacks(self) -> None:
        """Every step has a rollback to run: a step whose draft stopped names each statement
        the team must write the rollback for, and where to write it."""
        if missing := self.missing_rollbacks():
            raise BatchError(f"batch {self.id}: {len(missing)} statements have no rollback gonogo can draft; "
                             f"{self.where_rollbacks_go()}:\n" + "\n".join(f"  - {m}" for m in missing))

    def missing_rollbacks(self) -> list[str]:
        return [line for s in self.steps for line in s.rollback_missing]

    def where_rollbacks_go(self) -> str:
        if self.source is not None and self.path == self.source:  # the tool's folder alone: no batch folder yet
            return (f"write them in a batch folder: `python -m gonogo import {self.tool.name} {self.source} --write "
                    f"DIR` makes one (a manifest pointing at the folder, gonogo's drafts to review); save each as "
                    f"DIR/{self.id}/rollbacks/<step>.sql and roll that batch out")
        return f"write the rollback of each step as rollbacks/<step>.sql in the batch folder {self.path}"

    @property
    def enabled_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.enabled)

    @property
    def explicitly_enabled(self) -> tuple[Step, ...]:
        """Steps the manifest disables that this run enables (with_enabled)."""
        return tuple(s for s in self.steps if s.enabled and s.disabled_reason)

    def with_enabled(self, names) -> Batch:
        """This batch with manifest-disabled steps enabled for one run (the operator's explicit
        choice, e.g. the seed's cleanup after a week of stable metrics)."""
        names = list(names or ())
        unknown = [n for n in names if n not in {s.name for s in self.steps if not s.enabled}]
        if unknown:
            disabled = ", ".join(s.name for s in self.steps if not s.enabled) or "none"
            raise BatchError(f"enable_steps names {', '.join(unknown)}, which is not a disabled step of batch "
                             f"{self.id} (disabled steps: {disabled})")
        return dataclasses.replace(self, steps=tuple(
            dataclasses.replace(s, enabled=True) if s.name in names else s for s in self.steps))

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise BatchError(f"batch {self.id} has no step named {name!r}")

    def tables_needed(self) -> list[str]:
        """The manifest's required tables plus every table the enabled steps touch, but for
        those a step of the batch creates (they cannot be there before it)."""
        touched = set().union(*(s.tables() for s in self.enabled_steps))
        return sorted((set(self.required_tables) | touched) - set(self.created_tables()))

    def created_tables(self) -> dict[str, str]:
        """{table: the step that creates it (or renames a table to it)}, over the enabled steps."""
        made: dict[str, str] = {}
        for step in self.enabled_steps:
            for table in created_tables(list(step.forward.statements)):
                made.setdefault(table, step.name)
        return made

    def created_columns(self) -> dict[tuple[str, str], str]:
        """{(table, column): the step that adds it}, over the enabled steps."""
        made: dict[tuple[str, str], str] = {}
        for step in self.enabled_steps:
            for column in added_columns(list(step.forward.statements)):
                made.setdefault(column, step.name)
        return made

    def summary(self) -> dict:
        """What the batch will do, for the log and XCom: steps in order, disabled ones, checksums."""
        return {"id": self.id, "title": self.title,
                "tool": self.tool.name if self.tool else None, "source": str(self.source) if self.source else None,
                "steps": [{"order": s.order, "name": s.name, "kind": s.kind, "enabled": s.enabled,
                           "runs": s.runs_as, "rollback": s.rollback_source,
                           "creates": [o.label() for o in s.creates()]} for s in self.steps],
                "checksums": self.checksums()}

    def checksums(self) -> dict[str, str]:
        """sha256 of every file the batch runs, keyed by its path relative to the batch folder."""
        files = [f for s in self.steps for f in (s.forward, s.rollback, s.verify, s.precheck) if f]
        files += [s.backfill.batch for s in self.steps if s.backfill]
        files += [f for f in (self.integrity_checks, self.expected_schema) if f]
        files += [c.file for c in self.contracts]
        return {os.path.relpath(f.path, self.path): f.sha256 for f in files}


@functools.cache
def manifest_schema() -> dict:
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

    def sql_file(rel: str, what: str, mode: str = STATEMENTS) -> SqlFile | None:
        path = (folder / rel).resolve()
        if not path.is_file():
            problems.append(f"{what}: {rel} does not exist; create it, or correct the path in manifest.yaml "
                            f"(relative to the batch folder)")
            return None
        try:
            found = read_sql_file(path, mode=mode)
        except BatchError as exc:
            problems.append(f"{what}: {exc}")
            return None
        if not found.statements:
            problems.append(f"{what}: {rel} has no SQL statement (an intentional no-op rollback "
                            f"should say so in a comment and run e.g. SELECT 1)")
            return None
        return found

    def query_file(rel: str, what: str) -> SqlFile | None:
        """A check: one SELECT whose rows are the problems found."""
        found = sql_file(rel, what)
        if found and (len(found.statements) != 1 or found.statements[0].kind != "SelectStmt"):
            problems.append(f"{what}: {rel} must hold exactly one SELECT (zero rows = clean), "
                            f"found {', '.join(s.kind for s in found.statements)}")
            return None
        return found

    def backfill(raw: dict, what: str) -> Backfill | None:
        path = (folder / raw["batch"]).resolve()
        if not path.is_file():
            problems.append(f"{what}: {raw['batch']} does not exist")
            return None
        found, wrong = _read_backfill(raw, path)
        problems.extend(f"{what}: {raw['batch']} {w}" for w in wrong)
        return found

    steps: list[Step] = []
    imported = None
    if "source" in manifest:
        from gonogo.tools.imported import import_batch

        try:
            imported = import_batch(manifest["source"]["tool"], folder / manifest["source"]["path"],
                                    batch_id=manifest["id"], title=manifest["title"], batch_folder=folder,
                                    overrides=manifest.get("overrides"))
            steps.extend(imported.steps)
        except BatchError as exc:
            problems.append(f"source: {exc}")
    orders = [s["order"] for s in manifest.get("steps", ())]
    if orders != sorted(set(orders)):
        problems.append(f"step orders must be unique and ascending in the list, got {orders}")
    for raw in manifest.get("steps", ()):
        what = f"step {raw['order']} ({Path(raw['file']).name})"
        mode = raw.get("mode", manifest.get("mode", STATEMENTS))
        forward = sql_file(raw["file"], what, mode)
        rollback = sql_file(raw["rollback"], f"{what} rollback", mode)
        verify = query_file(raw["verify"], f"{what} verify") if "verify" in raw else None
        precheck = query_file(raw["precheck"], f"{what} precheck") if "precheck" in raw else None
        backfilled = backfill(raw["backfill"], f"{what} backfill") if "backfill" in raw else None
        if raw.get("enabled", True) is False and not raw.get("disabled_reason"):
            problems.append(f"{what} is disabled: say why in disabled_reason")
        if "lock_timeout" in raw and (wrong := timeouts.problem("lock_timeout", raw["lock_timeout"])):
            problems.append(f"{what}: {wrong}")
            continue
        if forward and rollback:
            steps.append(Step(order=raw["order"], kind=raw["kind"], forward=forward, rollback=rollback,
                              verify=verify, precheck=precheck, enabled=raw.get("enabled", True),
                              disabled_reason=raw.get("disabled_reason", ""),
                              lock_timeout=raw.get("lock_timeout"), backfill=backfilled,
                              batch_id=manifest["id"]))
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
    watch_metrics = []
    for raw in manifest.get("watch", {}).get("metrics", ()):
        if found := query_file(raw["file"], f"watch metric {raw['name']}"):
            watch_metrics.append(Metric(query=found.statements[0].sql,
                                        **{k: v for k, v in raw.items() if k != "file"}))
    watch = WatchConfig(**{**{k: v for k, v in manifest.get("watch", {}).items() if k != "metrics"},
                           "metrics": tuple(watch_metrics)})
    from gonogo.gates.commands import commands_from_manifest

    commands, wrong = commands_from_manifest(manifest.get("commands", []), folder, steps=[s.name for s in steps])
    problems.extend(wrong)
    queries: tuple[Query, ...] = ()
    if "top_queries" in manifest:
        try:
            queries = load_queries((folder / manifest["top_queries"]).resolve(),
                                   (folder / manifest["query_params"]).resolve() if "query_params" in manifest else None)
        except BatchError as exc:
            problems.append(str(exc))
    pace = Pace(**manifest.get("workload", {}))
    window = None
    if raw_window := manifest.get("window"):
        try:
            window = Window.parse(raw_window.get("start"), raw_window.get("end"), raw_window.get("timezone", "UTC"),
                                  where="manifest window")
        except BatchError as exc:
            problems.append(str(exc))
    if queries and (unknown := sorted(set(pace.rates) - {q.name for q in queries})):
        problems.append(f"workload.rates: no top query named {', '.join(unknown)} "
                        f"(top queries: {', '.join(q.name for q in queries)})")

    if problems:
        raise BatchError(f"batch {batch_id!r} ({manifest_path}) is not valid:\n"
                         + "\n".join(f"  - {p}" for p in problems))
    return Batch(id=manifest["id"], title=manifest["title"], path=folder, steps=tuple(steps),
                 tool=imported.tool if imported else None, source=imported.source if imported else None,
                 restore_point=manifest.get("restore_point", f"gonogo_pre_{manifest['id']}")[:63],
                 required_tables=tuple(manifest.get("required_tables", ())),
                 integrity_checks=checks, expected_schema=expected, queries=queries,
                 contracts=(*(imported.contracts if imported else ()), *contracts), thresholds=Thresholds(**manifest.get("thresholds", {})),
                 pace=pace, on_failure=manifest.get("on_failure", "rollback"), watch=watch, commands=tuple(commands),
                 window=window, approvers=tuple(manifest.get("approvers", ())),
                 approvals_required=manifest.get("approvals_required", 1),
                 rollback_executors=tuple(manifest.get("rollback_executors", ())))


def _read_manifest(path: Path) -> dict:
    manifest = read_yaml(path, "manifest")
    if too_long := long_values(manifest, "manifest"):
        raise BatchError(f"{path} has values too long to show an approver:\n"
                         + "\n".join(f"  - {p}" for p in too_long[:10]))
    errors = sorted(jsonschema.Draft202012Validator(manifest_schema()).iter_errors(manifest),
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


def _read_backfill(raw: dict, path: Path) -> tuple[Backfill | None, list[str]]:
    """A step's batched backfill, or what is wrong with its batch file: it must be one UPDATE
    of the table that sets only the column, bound to %(from_key)s and %(to_key)s."""
    text = path.read_bytes().decode()  # as on disk: the checksum is of the file's bytes
    table, key, column = raw["table"], raw["key"], raw["column"]
    found = bound_parameters(text)
    names = {name for name, _start, _end in found}
    wrong = []
    if missing := [n for n in BACKFILL_PARAMETERS if n not in names]:
        wrong.append(f"has no {' and no '.join(f'%({n})s' for n in missing)}: the runner binds each batch's key "
                     f'range to %(from_key)s and %(to_key)s; write one UPDATE "{table}" SET "{column}" = ... WHERE '
                     f'"{key}" > %(from_key)s AND "{key}" <= %(to_key)s AND ...')
    if unknown := sorted(names - set(BACKFILL_PARAMETERS)):
        wrong.append(f"uses {', '.join(f'%({n})s' for n in unknown)}: only %(from_key)s and %(to_key)s are bound")
    try:
        statements = parse_script(_with_positional_parameters(text, found))
    except SqlSyntaxError as exc:
        return None, [*wrong, str(exc)]
    kinds = [s.kind for s in statements]
    if kinds != ["UpdateStmt"]:
        wrong.append(f"must hold exactly one UPDATE (each batch runs it once, in a transaction of its own), "
                     f"found {', '.join(kinds) or 'no statement'}")
    elif (updated := statements[0].node.relation.relname) != table:
        wrong.append(f'updates "{updated}", not the backfill\'s table "{table}"')
    elif (set_columns := [t.name for t in statements[0].node.targetList]) != [column]:
        listed = ", ".join(f'"{c}"' for c in set_columns)
        wrong.append(f'sets {listed}; it may set only "{column}": every other column is proven unchanged '
                     f"after each batch")
    if wrong:
        return None, wrong
    return Backfill(table=table, key=key, column=column,
                    batch=SqlFile(path=path, text=text, statements=tuple(statements)),
                    query=_as_psycopg_query(text, found), batch_size=raw.get("batch_size", Backfill.batch_size),
                    pause_ms=raw.get("pause_ms", Backfill.pause_ms),
                    vacuum_after=raw.get("vacuum_after", Backfill.vacuum_after)), []


def _with_positional_parameters(text: str, found: list[tuple[str, int, int]]) -> str:
    """The SQL with each %(name)s as $n, as the server sees it: what pglast can parse."""
    return positional(text, found, BACKFILL_PARAMETERS)


def _as_psycopg_query(text: str, found: list[tuple[str, int, int]]) -> str:
    """The SQL as psycopg must be given it: the parameters kept, every other % doubled."""
    return with_placeholders(text, [(start, end, text[start:end]) for _name, start, end in found])
