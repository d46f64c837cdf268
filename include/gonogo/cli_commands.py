"""The sub-commands of python -m gonogo (gonogo.cli builds the parser): each takes the parsed
arguments, prints text or JSON, and returns the exit code.

lint and plan import the batch loader where they run: it pulls in pglast, psycopg and
jsonschema (0.4 s), which --help and new-batch do not need.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from gonogo.authoring import scaffold
from gonogo.batches import batches_dir
from gonogo.results import plural

if TYPE_CHECKING:
    from gonogo.batch import Batch
    from gonogo.authoring.batch_plan import FilePlan, StepPlan

LINT_FAILED = 1
_STATEMENT_WIDTH = 56


def lint(args: argparse.Namespace) -> int:
    from gonogo.lint import ERROR, NOTE, WARNING, lint_files
    from gonogo.lint.paths import resolve

    root = (args.batches_dir or batches_dir()).resolve()
    targets = [t for given in args.paths for t in resolve(given, root)]
    if args.production_env:  # a batch or a tool's folder: only what production has not applied, as the DAG
        targets = [_pending(t, args.production_env) for t in targets]
    batches = [t for t in targets if t.batch is not None]
    found = iter(lint_files([f for t in targets for f in t.files]))
    findings, steps = [], []
    for target in targets:
        for step, files in target.steps:
            step_findings = [f.to_detail() for _ in files for f in next(found)]
            step_findings[:0] = [_not_run(f.name, target.ignored[f.name]) for f in files if f.name in target.ignored]
            where = target.path if target.batch is not None else Path.cwd()
            findings += [{"step": step, **d, "path": shown(where / d["file"])} for d in step_findings]
            levels = {d["level"] for d in step_findings}
            steps.append({"step": step, "files": [shown(where / (f.name or f.sql_file.path.name)) for f in files],
                          "verdict": "FAIL" if ERROR in levels else "WARN" if WARNING in levels else "PASS"})
    levels = [f["level"] for f in findings]
    verdict = "FAIL" if ERROR in levels else "WARN" if WARNING in levels else "PASS"
    summary = {"steps": len(steps), "files": sum(len(s["files"]) for s in steps), "findings": len(findings),
               "errors": levels.count(ERROR), "warnings": levels.count(WARNING), "notes": levels.count(NOTE),
               "verdict": verdict}
    exit_code = LINT_FAILED if summary["errors"] else 0
    if args.format != "text":
        _print_machine(args.format, findings, summary, steps, targets)
        return exit_code
    for target in batches:
        if target.batch.tool is not None and not args.production_env:
            print(f"(every one of the {len(target.batch.steps)} {target.batch.tool.name} migrations in "
                  f"{shown(target.batch.source)}; --production-env VAR takes only those production has not "
                  f"applied, as the DAG does)")
    from gonogo.lint.formats import text_of

    for f in findings:
        if f["level"] != NOTE or args.notes:
            print(f"{f['path']}:{f['line']}: {f['level']} [{f['rule']}] {text_of(f)}")
    if summary["notes"] and not args.notes:
        print(f"{plural(summary['notes'], 'robustness note')}: statements that are not re-runnable if a file "
              f"fails part way (IF [NOT] EXISTS); --notes lists them")
    label = (batches[0].batch.id if len(targets) == 1 and batches else
             shown(targets[0].path) if len(targets) == 1 else plural(len(targets), "path"))
    print(f"{label}: {plural(summary['steps'], 'step')}, {plural(summary['files'], 'file')}, "
          f"{plural(summary['findings'], 'finding')} ({plural(summary['errors'], 'error')}, "
          f"{plural(summary['warnings'], 'warning')}, {plural(summary['notes'], 'note')}): {verdict}"
          + ("; the DAG's lint gate stops the rollout on an error" if summary["errors"] else ""))
    return exit_code


def _not_run(file: str, why: str) -> dict:
    """A warning on a file the folder's tool passes over: its risks are linted, but it would not run."""
    from gonogo.lint import WARNING, Finding

    return Finding("not-a-migration", "gonogo", WARNING, file, 1, "", "", why,
                   "rename it to the tool's layout if it is a migration, else move it out of the migrations "
                   "folder").to_detail()


def _pending(target, production_env: str):
    """A batch from a migration tool, or a tool's folder, with only the migrations production has
    not applied (a plain file or folder, or a batch of gonogo's own, as it is)."""
    import dataclasses

    from gonogo import tools
    from gonogo.tools.imported import import_batch, pending
    from gonogo.lint import step_files

    if target.batch is None and target.kind in tools.NAMES:
        target = dataclasses.replace(target, batch=import_batch(target.kind, target.path))
    if target.batch is None or target.batch.tool is None:
        return target
    with _production(production_env) as conn:
        batch = pending(target.batch, conn, require_rollbacks=False)
    return dataclasses.replace(target, batch=batch,
                               steps=[(s.name, step_files(s, root=batch.path)) for s in batch.steps])


def _print_machine(form: str, findings: list[dict], summary: dict, steps: list[dict], targets) -> None:
    from gonogo.lint import formats

    if form == "json":
        document = {"paths": [{"path": str(t.path), "kind": t.kind,
                               "batch": t.batch.id if t.batch is not None else None} for t in targets],
                    "summary": summary, "findings": findings, "steps": steps}
        if len(targets) == 1 and targets[0].batch is not None:
            document = {"batch": targets[0].batch.id, "path": str(targets[0].path), **document}
        _print_json(document)
    elif form == "sarif":
        import sys

        from gonogo.lint.rules import RULES

        print(formats.sarif(findings, {rule.__name__.replace("_", "-"):
                                       " ".join((sys.modules[rule.__module__].__doc__ or "").split("\n\n")[0].split())
                                       for rule in RULES}))
    elif form == "github":
        if findings:
            print(formats.github(findings))
    else:
        print(formats.gitlab(findings))


def plan(args: argparse.Namespace) -> int:
    from gonogo.authoring.batch_plan import plan_batch

    batch = load(args).with_enabled(args.enable)
    steps = plan_batch(batch)
    blocking = [s for step in steps if step.enabled for s in step.blocking]
    summary = {"steps": len(steps), "enabled": sum(s.enabled for s in steps),
               "statements_blocking_app": len(blocking),
               "steps_blocking_app": [s.name for s in steps if s.enabled and s.blocking]}
    if args.format == "json":
        _print_json({"batch": batch.id, "title": batch.title, "path": str(batch.path),
                     "summary": summary, "steps": [s.to_dict() for s in steps]})
        return 0
    print(f"{batch.id}: {batch.title}")
    print(f"{summary['enabled']} of {plural(summary['steps'], 'step')} enabled: the DAG applies them in this "
          f"order, each file top to bottom; a rollback runs only to undo its step.")
    print("Each statement: its line, the table lock it takes, the table, and what of the app's work waits "
          "while it is held ('!').")
    for step in steps:
        print()
        _print_step(step)
    print()
    print(f"Locks the app waits for: {plural(len(blocking), 'statement')} in "
          f"{plural(len(summary['steps_blocking_app']), 'enabled step')}. gonogo's lock_timeout bounds the wait "
          f"for each; the dry run on staging measures how long each is held.")
    return 0


def import_(args: argparse.Namespace) -> int:
    import dataclasses

    from gonogo import tools
    from gonogo.tools.imported import import_batch, pending, write_batch_folder

    batch = import_batch(args.tool, args.folder)
    everything = len(batch.steps)
    ran = [p for s in batch.steps for p in (s.forward.path, getattr(s.rollback, "path", None)) if p]
    ignored = tools.not_run(batch.source, ran)
    if args.production_env:
        with _production(args.production_env) as conn:
            # a pending step whose rollback the team must write stops the import, but only after
            # --write made the batch folder that rollback goes into
            batch = pending(batch, conn, require_rollbacks=False)
    written = write_batch_folder(batch, args.write) if args.write else None
    if written:
        batch = dataclasses.replace(batch, path=written)
    to_write = [s for s in batch.steps if s.rollback_missing]
    steps = [{"order": s.order, "name": s.name, "kind": s.kind, "runs": s.runs_as,
              "rollback": "none yet: to be written" if s.rollback_missing else s.rollback_source,
              "file": shown(s.forward.path), "rollback_file": None if s.rollback_missing else shown(s.rollback.path),
              "rollback_needed_for": list(s.rollback_missing)} for s in batch.steps]
    if args.format == "json":
        _print_json({"tool": args.tool, "folder": str(batch.source), "batch": batch.id, "migrations": everything,
                     "applied_before": [m.name for m in batch.applied_before], "steps": steps,
                     "written": str(written) if written else None, "not_run": [shown(p) for p in ignored],
                     "rollbacks_to_write": [str(written / "rollbacks" / f"{s.name}.sql") if written else s.name
                                            for s in to_write]})
    else:
        _print_import(args, batch, everything, steps, written, to_write)
        if ignored:
            print(f"Not {args.tool} migrations (a name outside the layout: {tools.get(args.tool).layout}), so "
                  f"not in the batch: {', '.join(shown(p) for p in ignored)}. Rename a file that is a migration; "
                  f"gonogo lint reads them all the same.")
    if args.production_env and args.format == "json":
        batch.require_rollbacks()  # exit 2: production has pending steps gonogo cannot roll back yet
    elif args.production_env and (missing := batch.missing_rollbacks()):
        from gonogo.errors import BatchError

        # the statements are listed above, under their steps: the error says what and where, once
        raise BatchError(f"batch {batch.id}: {plural(len(missing), 'statement')} listed above "
                         f"{'have' if len(missing) > 1 else 'has'} no rollback gonogo can draft; "
                         f"{batch.where_rollbacks_go()}")
    return 0


def _print_import(args, batch: Batch, everything: int, steps: list[dict], written: Path | None,
                  to_write: list) -> None:
    print(f"{args.tool}: {plural(everything, 'migration')} in {shown(batch.source)}"
          + (f"; production has applied {len(batch.applied_before)}" if args.production_env else ""))
    if not steps:
        print("Nothing to roll out: production has applied every migration.")
    for s in steps:
        print(f"{s['order']:>3}. {s['name']} ({s['kind']}, runs {s['runs']}; rollback {s['rollback']})")
        for needed in s["rollback_needed_for"]:
            print(f"       {needed}")
    if to_write:
        where = batch.where_rollbacks_go() if not written else \
            f"save each as rollbacks/<step>.sql in {shown(written)}"
        print(f"{plural(len(to_write), 'migration')} need a rollback written by hand before gonogo rolls "
              f"{'them' if len(to_write) > 1 else 'it'} out ({'pending on production' if args.production_env else 'if production has not applied them; --production-env tells which'}): {where}.")
    drafted = [s for s in batch.steps if s.rollback_drafted]
    if written:
        print(f"Wrote {shown(written)}: manifest.yaml"
              + (f" and {plural(len(drafted), 'drafted rollback')} to review in {shown(written / 'rollbacks')}"
                 if drafted else " (no rollback drafted: the tool's own down files are the rollbacks)" if not to_write
                 else " (no rollback drafted)") + ".")
        for s in to_write:
            print(f"  still to write: {shown(written / 'rollbacks' / (s.name + '.sql'))}")
        print(f"  python -m gonogo lint {shown(written)}"  # what the DAG's gate lints: the pending ones
              + (f" --production-env {args.production_env}" if args.production_env else ""))
    if not written and drafted:
        print("Drafted rollbacks live in memory; --write DIR saves them to review.")


def _production(var: str):
    import os

    from gonogo.errors import TargetError
    from gonogo.postgres.target import Target

    url = os.environ.get(var)
    if not url:
        raise TargetError(f"--production-env {var}: the environment variable {var} is not set; set it to "
                          f"production's URL (postgresql://user:password@host:5432/db)")
    return Target.from_url(url, "production").connect("cli/import")


def new_batch(args: argparse.Namespace) -> int:
    folder = scaffold.new_batch(args.name, (args.batches_dir or batches_dir()).resolve())
    print(f"Created batch {folder.name} in {shown(folder)}:")
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        print(f"  {path.relative_to(folder)}")
    named = folder.name if folder.parent == batches_dir().resolve() else shown(folder)
    print("Write the migration and its rollback (their comments say how), then check them:")
    print(f"  python -m gonogo lint {named}")
    print(f"  python -m gonogo plan {named}")
    return 0


def load(args: argparse.Namespace) -> Batch:
    """The batch BATCH names: a name under the batches directory first, else a folder path. A
    batch from a migration tool, with --production-env: only what production has not applied."""
    from gonogo.batch import load_batch

    root = (args.batches_dir or batches_dir()).resolve()
    given = Path(args.batch)
    if not (root / args.batch / "manifest.yaml").is_file() and (given.is_dir() or len(given.parts) > 1):
        from gonogo.lint.paths import tool_of

        folder = given.resolve()
        if not (folder / "manifest.yaml").is_file() and (tool := tool_of(folder)):  # a tool's folder as it is
            from gonogo.tools.imported import import_batch

            batch = import_batch(tool, folder)
        else:
            batch = load_batch(folder.name, folder.parent)
    else:
        batch = load_batch(args.batch, root)
    if batch.tool is not None and args.production_env:
        from gonogo.tools.imported import pending

        with _production(args.production_env) as conn:
            return pending(batch, conn)
    if batch.tool is not None and args.format == "text":
        print(f"(every one of the {len(batch.steps)} {batch.tool.name} migrations in {shown(batch.source)}; "
              f"--production-env VAR takes only those production has not applied, as the DAG does)")
    return batch


def shown(path: Path) -> str:
    """A path as the author would type it: relative to the working directory when under it."""
    path = Path(path).resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)



def _print_json(document: dict) -> None:
    print(json.dumps(document, indent=2))


def _print_step(step: StepPlan) -> None:
    print(f"{step.order}. {step.name} ({step.kind})")
    if not step.enabled:
        print(f"   DISABLED: {' '.join(step.disabled_reason.split())} Not applied unless enabled "
              f"(the DAG's enable_steps; plan --enable {step.name}).")
    _print_file("migration", step.migration)
    if step.backfill:
        _print_file("backfill", step.backfill, f"after the migration: {step.backfill_note}")
    for label, file in (("precheck", step.precheck), ("verify", step.verify)):
        if file:
            print(f"   {label:<10} {file}")
    if step.rollback_missing:
        print(f"   {'rollback':<10} none yet, to be written:")
        for needed in step.rollback_missing:
            print(f"     {needed}")
    else:
        _print_file("rollback", step.rollback)


def _print_file(label: str, plan: FilePlan, note: str = "") -> None:
    from gonogo.authoring.batch_plan import waits_for

    print(f"   {label:<10} {plan.file}" + (f" ({note})" if note else ""))
    for s in plan.statements:
        table = s.table or ("(index's table)" if s.index else "")
        waits = f"{s.app_waits_for} wait" if s.blocks_app else ""
        statement = s.statement if len(s.statement) <= _STATEMENT_WIDTH else s.statement[:_STATEMENT_WIDTH - 1] + "…"
        print(f"   {'!' if s.blocks_app else ' '} {s.line:>4}  {s.lock or 'no table lock':<22}  {table:<18}  "
              f"{waits:<21}  {statement}")
        for other, mode in s.other_locks:  # the same statement's lock on a foreign key's other end
            waits = f"{waits_for(mode)} wait" if waits_for(mode) else ""
            print(f"     {'also':>4}  {mode:<22}  {other:<18}  {waits:<21}  (the foreign key's other table)")
