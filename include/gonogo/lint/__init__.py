"""Static lint of a batch, before anything runs: which locks each statement takes, what
they block, and what to do instead.

Two sources: squawk (squawk.py), configured to match how gonogo executes a file, and
gonogo's own rules (rules/) for what squawk does not see (DO-block bodies, whole-table
UPDATE/DELETE, CREATE TRIGGER, NOT VALID and VALIDATE in one transaction, the seed's red
flags). One problem is reported once: findings of the same problem on one statement are
merged into gonogo's (the lock, what it blocks, the fix), squawk's rule ids kept as
references; two problems on one statement are two findings. Robustness notes (NOTE) never
decide a verdict and never hide a risk.

    lint_batch(batch) -> one GateResult per step (its migration and its rollback)
    lint_file(sql_file, step_kind=..., step_enabled=..., known=...) -> the Findings of one file
    lint_files([FileToLint(...), ...]) -> the Findings of each file, squawk run once for all

What the lint knows of the schema before a file (column types, foreign keys: lint.known)
comes from the migrations production applied already (a batch imported from a migration
tool) or the batch's expected schema, and the batch's earlier enabled steps (known_before);
what the batch itself creates before a file is new to it (earlier_statements).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from gonogo.lint.finding import ERROR, NOTE, WARNING, Finding
from gonogo.lint.known import KnownSchema, known_before
from gonogo.lint.rules import RULES
from gonogo.lint.rules.transaction_holds_lock import longest_hold
from gonogo.lint.script import Script
from gonogo.lint.squawk import EXCLUDED_RULES, SquawkFailed, SquawkNotFound, squawk_files
from gonogo.results import GateResult, Verdict

__all__ = ["lint_batch", "lint_step", "lint_file", "lint_files", "FileToLint", "step_files", "batch_files",
           "known_before",
           "Finding", "KnownSchema", "RULES", "EXCLUDED_RULES", "SquawkNotFound", "SquawkFailed", "ERROR",
           "WARNING", "NOTE"]


@dataclass(frozen=True)
class FileToLint:
    """One file to lint, in the context of its step. name: how findings name the file;
    earlier: the statements the batch runs before it (what they create is new to it); known:
    the schema before it, as far as the lint has seen it (production's and the earlier steps')."""

    sql_file: Any
    step_kind: str = "schema"
    step_enabled: bool = True
    rollback: bool = False
    name: str | None = None
    earlier: tuple = ()
    known: KnownSchema | None = None

    def script(self) -> Script:
        return Script(self.sql_file.as_run, file=self.name or self.sql_file.path.name, step_kind=self.step_kind,
                      step_enabled=self.step_enabled, rollback=self.rollback, earlier=self.earlier,
                      known=self.known)


# Problems a gonogo rule decides whole (rules/rename.py, rules/drop_index_without_concurrently.py;
# rewrites: rules/alter_column_type.py knows binary-coercible types, rules/table_rewrite.py
# volatile defaults; scans: rules/constraint_without_not_valid.py knows a new column's REFERENCES
# reads no row): squawk's finding stays only on a statement gonogo's rule flags too.
OWNED_PROBLEMS = frozenset({"rename", "drop-index", "rewrite", "validation-scan"})


def lint_files(files: list[FileToLint]) -> list[list[Finding]]:
    """The findings of each file, by line, in order: squawk runs once for them all (per set
    of options), not once per file."""
    scripts = [f.script() for f in files]
    found = squawk_files([(script, f.sql_file.text) for script, f in zip(scripts, files)])
    results = []
    for script, theirs in zip(scripts, found):
        ours = [finding for rule in RULES for finding in rule(script)]
        # on these problems gonogo's rule sees what squawk does not (a table or index the batch
        # made, a rollback): its silence on a statement is a verdict, not a gap
        judged = {(f.line, f.key_problem) for f in ours}
        theirs = [f for f in theirs if f.key_problem not in OWNED_PROBLEMS or (f.line, f.key_problem) in judged]
        results.append(_one_per_problem(theirs + ours))
    return results


def lint_file(sql_file, *, step_kind: str, step_enabled: bool, rollback: bool = False,
              name: str | None = None, earlier=(), known: KnownSchema | None = None) -> list[Finding]:
    """Findings in one migration (or, rollback=True, rollback) file, by line (FileToLint says
    what each argument is)."""
    [findings] = lint_files([FileToLint(sql_file, step_kind, step_enabled, rollback, name, tuple(earlier), known)])
    return findings


def lint_batch(batch) -> list[GateResult]:
    """One result per step, disabled steps included, each covering the step's rollback too."""
    files = batch_files(batch)
    found = lint_files(files)
    return [lint_step(step, root=batch.path, findings=found[2 * i] + found[2 * i + 1], files=files[2 * i: 2 * i + 2])
            for i, step in enumerate(batch.steps)]


def batch_files(batch) -> list[FileToLint]:
    """Every step's migration and rollback, each knowing what runs before it (step_files)."""
    return [f for step in batch.steps
            for f in step_files(step, batch.path, earlier_statements(batch, step), known_before(batch, step))]


def earlier_statements(batch, step) -> tuple:
    """What the rollout runs before the step: the forward files (and backfill batches) of the
    enabled steps before it. A disabled step runs later, on its own approval, when the app
    already uses what the batch created: nothing is new to it."""
    if not step.enabled:
        return ()
    before = batch.enabled_steps[: batch.enabled_steps.index(step)]
    return tuple(s for each in before for s in (*each.forward.statements,
                                                 *(each.backfill.batch.statements if each.backfill else ())))


def step_files(step, root=None, earlier=(), known: KnownSchema | None = None) -> list[FileToLint]:
    """A step's migration and its rollback, as lint_files takes them: the rollback runs after
    the step's own forward file, on the schema it leaves."""
    earlier, known = tuple(earlier), known or KnownSchema()
    return [FileToLint(step.forward, step.kind, step.enabled, False, _relative(step.forward.path, root),
                       earlier, known),
            FileToLint(step.rollback, step.kind, step.enabled, True, _relative(step.rollback.path, root),
                       (*earlier, *step.forward.statements), known.after(step.forward.statements))]


def _relative(path, root) -> str:
    return os.path.relpath(path, root) if root else path.name


def lint_step(step, root=None, findings: list[Finding] | None = None, files: list[FileToLint] | None = None,
              ) -> GateResult:
    """The step's result; files: step_files(step, ...) (default: with nothing before it);
    findings: those lint_files found in them (else linted here)."""
    files = files or step_files(step, root)
    if findings is None:
        forward, rollback = lint_files(files)
        findings = forward + rollback
    errors = [f for f in findings if f.level == ERROR]
    warnings = [f for f in findings if f.level == WARNING]
    verdict = Verdict.FAIL if errors else Verdict.WARN if warnings else Verdict.PASS
    state = "" if step.enabled else " (disabled step)"
    risks = errors + warnings
    if risks:
        worst = max(risks, key=lambda f: f.rank)  # the first of the most severe
        more = len(risks) - 1
        message = (f"{worst.level} at {worst.where()}{state}: {worst.message}"
                   + (f" (and {more} more)" if more else ""))
        hint = worst.help
    else:
        notes = len(findings)
        message = (f"{_relative(step.forward.path, root)} and its rollback have no lint findings{state}" if not notes else
                   f"{_relative(step.forward.path, root)} and its rollback take no risky lock{state}; "
                   f"{notes} robustness note{'s' if notes > 1 else ''} (statements not re-runnable)")
        hint = findings[0].help if notes else ""
    # in one transaction every lock lasts to the COMMIT: the longest hold, said with the verdict
    hold = longest_hold(files[0].script())
    if hold:
        message += f"; {_relative(step.forward.path, root)}: {hold.sentence()}"
    return GateResult(gate="lint", title="Static lint", phase="preflight", subject=step.name,
                      verdict=verdict, value=_count(findings, errors, warnings), threshold="no errors",
                      message=message, hint=hint, details=[f.to_detail() for f in findings])


def _count(findings, errors, warnings) -> str:
    if not findings:
        return "no findings"

    def n(count: int, word: str) -> str:
        return f"{count} {word}{'' if count == 1 else 's'}"

    notes = len(findings) - len(errors) - len(warnings)
    parts = [n(len(errors), "error")] if errors else []
    parts += [n(len(warnings), "warning")] if warnings else []
    parts += [n(notes, "note")] if notes else []
    return f"{n(len(findings), 'finding')} ({', '.join(parts)})"


def _one_per_problem(findings: list[Finding]) -> list[Finding]:
    """One finding per statement and problem: gonogo's when it has one (squawk's rule ids as
    its references), else the most severe squawk finding."""
    groups: dict[tuple, list[Finding]] = {}
    for finding in findings:
        groups.setdefault((finding.file, finding.line, finding.key_problem), []).append(finding)
    kept = []
    for group in groups.values():
        ours = [f for f in group if f.source == "gonogo"]
        best = max(ours or group, key=lambda f: f.rank)  # the first of the most severe
        others = tuple(dict.fromkeys(f.rule for f in group if f is not best and f.source != "gonogo"))
        kept.append(dataclasses.replace(best, references=best.references + others) if others else best)
    return sorted(kept, key=lambda f: (f.line, -f.rank))
