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
    lint_file(sql_file, step_kind=..., step_enabled=...) -> the Findings of one file
    lint_files([FileToLint(...), ...]) -> the Findings of each file, squawk run once for all
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from gonogo.lint.finding import ERROR, NOTE, WARNING, Finding
from gonogo.lint.rules import RULES
from gonogo.lint.script import Script
from gonogo.lint.squawk import EXCLUDED_RULES, SquawkFailed, SquawkNotFound, squawk_files
from gonogo.results import GateResult, Verdict

__all__ = ["lint_batch", "lint_step", "lint_file", "lint_files", "FileToLint", "step_files", "Finding", "RULES",
           "EXCLUDED_RULES", "SquawkNotFound", "SquawkFailed", "ERROR", "WARNING", "NOTE"]


@dataclass(frozen=True)
class FileToLint:
    """One file to lint, in the context of its step. name: how findings name the file."""

    sql_file: Any
    step_kind: str = "schema"
    step_enabled: bool = True
    rollback: bool = False
    name: str | None = None


def lint_files(files: list[FileToLint]) -> list[list[Finding]]:
    """The findings of each file, by line, in order: squawk runs once for them all (per set
    of options), not once per file."""
    scripts = [Script(f.sql_file.as_run, file=f.name or f.sql_file.path.name, step_kind=f.step_kind,
                      step_enabled=f.step_enabled, rollback=f.rollback) for f in files]
    found = squawk_files([(script, f.sql_file.text) for script, f in zip(scripts, files)])
    for script, findings in zip(scripts, found):
        for rule in RULES:
            findings.extend(rule(script))
    return [_one_per_problem(findings) for findings in found]


def lint_file(sql_file, *, step_kind: str, step_enabled: bool, rollback: bool = False,
              name: str | None = None) -> list[Finding]:
    """Findings in one migration (or, rollback=True, rollback) file, by line. `name` is how
    findings name the file (default: its file name)."""
    [findings] = lint_files([FileToLint(sql_file, step_kind, step_enabled, rollback, name)])
    return findings


def lint_batch(batch) -> list[GateResult]:
    """One result per step, disabled steps included, each covering the step's rollback too."""
    found = lint_files([f for step in batch.steps for f in step_files(step, root=batch.path)])
    return [lint_step(step, root=batch.path, findings=found[2 * i] + found[2 * i + 1])
            for i, step in enumerate(batch.steps)]


def step_files(step, root=None) -> list[FileToLint]:
    """A step's migration and its rollback, as lint_files takes them."""
    return [FileToLint(step.forward, step.kind, step.enabled, False, _relative(step.forward.path, root)),
            FileToLint(step.rollback, step.kind, step.enabled, True, _relative(step.rollback.path, root))]


def _relative(path, root) -> str:
    return os.path.relpath(path, root) if root else path.name


def lint_step(step, root=None, findings: list[Finding] | None = None) -> GateResult:
    """The step's result; findings: those lint_files found in step_files(step) (else linted here)."""
    if findings is None:
        forward, rollback = lint_files(step_files(step, root))
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
