"""squawk (the squawk-cli package), run the way gonogo executes a migration.

gonogo runs a file statement by statement in autocommit, like psql -f, or in one transaction
(its mode, gonogo.postgres.sqlfile), and squawk is told which; it lints for PostgreSQL 15; and the
rules that are noise for gonogo are excluded, each with its reason below. squawk runs once
per set of options for all the files linted together, on each file's text (the bytes gonogo
checksummed), with its JSON reporter; each
violation is mapped back to the statement gonogo runs at that line, and to the lock held
on the table while it runs.

squawk does not look inside DO blocks; gonogo's own rules do (rules/).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from pglast import ast, enums

from gonogo.errors import SetupError
from gonogo.lint.finding import ERROR, NOTE, WARNING, Finding
from gonogo.lint.script import Script

PG_VERSION = "15.0"

# squawk rules that are noise for the way gonogo runs migrations.
EXCLUDED_RULES: dict[str, str] = {
    "require-lock-timeout": "gonogo's session guards set lock_timeout on every production session "
                            "(and a step's manifest lock_timeout overrides it), not the file",
    "require-statement-timeout": "gonogo's session guards set statement_timeout on every production session",
    "ban-drop-column": "replaced by gonogo's drop-column, which knows the step (disabled cleanup or not)",
    "ban-drop-constraint": "replaced by gonogo's drop-constraint, which knows the step and allows "
                           "a drop that re-adds the same constraint",
    "prefer-bigint-over-int": "column type style, not a lock this migration takes",
    "prefer-bigint-over-smallint": "column type style, not a lock this migration takes",
    "prefer-identity": "column default style (serial vs identity), not a lock this migration takes",
    "prefer-text-field": "column type style: the lock it warns of is taken by a future change, not this one",
    "prefer-timestamp-tz": "column type style, not a lock this migration takes",
    "ban-char-field": "column type style, not a lock this migration takes",
    "require-enum-value-ordering": "where a new enum value sorts is a modelling choice, not a rollout risk",
}

# In a rollback file, dropping what the forward step added is the file's job.
ROLLBACK_EXCLUDED_RULES: dict[str, str] = {
    rule: "a rollback drops what its forward step added" for rule in (
        "ban-drop-database", "ban-drop-default", "ban-drop-domain", "ban-drop-extension",
        "ban-drop-function", "ban-drop-generated-expression", "ban-drop-index", "ban-drop-not-null",
        "ban-drop-policy", "ban-drop-schema", "ban-drop-sequence", "ban-drop-table", "ban-drop-trigger",
        "ban-drop-type", "ban-drop-view")
}

# squawk reports every violation as a warning; these make the app wait for a scan, a
# rewrite or an index build, lose data, or fail the step, so for gonogo they are errors.
ERROR_RULES = frozenset({
    "require-concurrent-index-creation", "require-concurrent-reindex",
    "require-concurrent-partition-detach", "constraint-missing-not-valid",
    "adding-foreign-key-constraint", "adding-field-with-default", "changing-column-type",
    "adding-not-nullable-field", "adding-serial-primary-key-field", "disallowed-unique-constraint",
    "adding-required-field", "ban-concurrent-index-creation-in-transaction",
    "ban-uncommitted-transaction", "ban-truncate-cascade", "ban-drop-database", "ban-drop-table",
})

# The problem each squawk rule is about, where gonogo has a rule for the same problem (or
# two squawk rules report one): one finding per problem and statement (gonogo.lint).
PROBLEMS = {
    "require-concurrent-index-creation": "index-build",
    "require-concurrent-index-deletion": "drop-index",
    "changing-column-type": "rewrite",
    "adding-field-with-default": "rewrite",
    "constraint-missing-not-valid": "validation-scan",
    "adding-foreign-key-constraint": "validation-scan",
    "disallowed-unique-constraint": "index-build-exclusive",
    "adding-serial-primary-key-field": "index-build-exclusive",
    "adding-not-nullable-field": "not-null-scan",
    "renaming-column": "rename",
    "renaming-table": "rename",
    "prefer-robust-stmts": "robustness",
}

# The fix, where squawk gives none (or, for prefer-robust-stmts, one that does not fit).
_HELP = {
    "prefer-robust-stmts": "make it re-runnable (IF [NOT] EXISTS, or a DO block that checks the "
                           "catalog first): gonogo re-runs a file that failed part way",
    "changing-column-type": "add a column of the new type, dual-write it with a trigger, backfill it "
                            "in batches, switch the app over, drop the old column in a disabled cleanup step",
    "renaming-column": "add the new column, dual-write, switch the app, drop the old one later",
    "renaming-table": "add a view or a new table under the new name; switch the app; drop the old one later",
    "ban-truncate-cascade": "name every table to truncate, without CASCADE",
}
# A bad statement of each rule above and the rewrite its help describes, run on PostgreSQL 15
# by tests/integration/test_lint_fixes.py (a rule's help and its pair change together).
FIXES = {
    "prefer-robust-stmts": ('ALTER TABLE "Recipe" ADD COLUMN "note" text',
                            'ALTER TABLE "Recipe" ADD COLUMN IF NOT EXISTS "note" text'),
    "changing-column-type": ('ALTER TABLE "Recipe" ALTER COLUMN "servings" TYPE bigint',
                             'ALTER TABLE "Recipe" ADD COLUMN IF NOT EXISTS "servings_new" bigint'),
    "renaming-column": ('ALTER TABLE "Recipe" RENAME COLUMN "name" TO "title"',
                        'ALTER TABLE "Recipe" ADD COLUMN IF NOT EXISTS "title" text'),
    "renaming-table": ('ALTER TABLE "Recipe" RENAME TO "Dish"',
                       'CREATE VIEW "Dish" AS SELECT * FROM "Recipe"'),
    "ban-truncate-cascade": ('TRUNCATE "Recipe" CASCADE', 'TRUNCATE "RecipeItem", "Recipe"'),
}
_DROP_HELP = ("drop it only once no app version uses it, in a cleanup step that stays disabled "
              "(enabled: false) until then")

# Lock rules whose violations on a table the file itself creates are noise: squawk 2.70 does
# not track tables created earlier in an autocommit file, but such a table is new and empty,
# and no app session uses it yet, so its locks block nobody.
NEW_TABLE_RULES = frozenset({
    "require-concurrent-index-creation", "constraint-missing-not-valid",
    "adding-foreign-key-constraint", "disallowed-unique-constraint", "adding-serial-primary-key-field",
    "adding-field-with-default", "changing-column-type", "adding-not-nullable-field",
    "adding-required-field",
})


# Rules whose fix is CONCURRENTLY, which a file run in one transaction cannot use as it stands.
_CONCURRENTLY_RULES = frozenset({"require-concurrent-index-creation", "require-concurrent-index-deletion",
                                 "require-concurrent-reindex", "require-concurrent-partition-detach"})


class SquawkNotFound(SetupError):
    """The squawk binary (package squawk-cli) is not installed."""


class SquawkFailed(SetupError):
    """squawk ran but did not produce a report."""


def squawk_binary() -> str:
    """squawk next to the running Python (the venv's bin/), else on PATH."""
    beside = Path(sys.executable).with_name("squawk")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("squawk")
    if found:
        return found
    raise SquawkNotFound("squawk is not installed: the static lint needs the package squawk-cli "
                         "(pip install squawk-cli, in the environment gonogo runs in)")


def squawk_command(*, rollback: bool, one_transaction: bool = False) -> list[str]:
    excluded = sorted({**EXCLUDED_RULES, **(ROLLBACK_EXCLUDED_RULES if rollback else {})})
    return [squawk_binary(), "--reporter", "json", "--pg-version", PG_VERSION,
            # as the file runs: in one transaction gonogo opens, or statement by statement like psql -f
            "--assume-in-transaction" if one_transaction else "--no-assume-in-transaction",
            "--config", os.devnull,           # no .squawk.toml found in a parent folder applies
            "--exclude", ",".join(excluded)]


def squawk(script: Script, text: str) -> list[Finding]:
    """squawk's violations in one file, as findings on the statements gonogo runs."""
    return squawk_files([(script, text)])[0]


def squawk_files(files: list[tuple[Script, str]]) -> list[list[Finding]]:
    """squawk's violations in each (script, text), in order: one squawk run per set of options
    (rollback or not, one transaction or not), not one per file, since starting squawk costs
    more than linting a file. Each text is written to a file of its own in a temporary folder,
    as the text may be a part of a file (a dbmate section) or SQL a tool generated (Alembic)."""
    import tempfile

    groups: dict[tuple[bool, bool], list[int]] = {}
    for index, (script, _text) in enumerate(files):
        groups.setdefault((script.rollback, script.one_transaction), []).append(index)
    found: list[list[Finding]] = [[] for _ in files]
    with tempfile.TemporaryDirectory(prefix="gonogo-squawk-") as folder:
        for (rollback, one_transaction), indexes in groups.items():
            paths = {}
            for index in indexes:
                path = os.path.join(folder, f"{index}.sql")
                with open(path, "w", encoding="utf-8") as out:
                    out.write(files[index][1])
                paths[path] = index
            command = squawk_command(rollback=rollback, one_transaction=one_transaction)
            names = ", ".join(files[i][0].file for i in indexes[:3]) + (", ..." if len(indexes) > 3 else "")
            done = subprocess.run([*command, *paths], capture_output=True, text=True, timeout=300)
            if done.returncode not in (0, 1):  # 1: violations found
                raise SquawkFailed(f"squawk failed on {names} (exit {done.returncode}): "
                                   f"{done.stderr.strip()[:500]}")
            try:
                violations = json.loads(done.stdout or "[]")
            except json.JSONDecodeError:
                raise SquawkFailed(f"squawk gave no JSON report for {names}: {done.stdout[:300]!r}") from None
            for violation in violations:
                index = paths[violation["file"]]
                finding = _finding(files[index][0], violation)
                if finding:
                    found[index].append(finding)
    return found


def _finding(script: Script, violation: dict) -> Finding | None:
    rule = violation["rule_name"]
    line = int(violation.get("line_end", violation["line"])) + 1  # squawk counts lines from 0
    unit = script.unit_at(line)
    if rule == "prefer-robust-stmts" and unit and _only_validates(unit.node):
        return None  # VALIDATE CONSTRAINT of a valid constraint is a no-op: it is already re-runnable
    if rule in NEW_TABLE_RULES and unit and unit.table in script.new_tables:
        return None
    if rule == "ban-concurrent-index-creation-in-transaction" and script.one_transaction:
        return None  # in a file run in one transaction, gonogo runs CONCURRENTLY alone (SqlFile.as_run)
    if rule == "changing-column-type" and unit and _no_rewrite(script, unit):
        return None  # a change PostgreSQL makes in the catalog only (gonogo.lint.type_change)
    if rule == "syntax-error":
        level = WARNING
        message = (f"squawk cannot parse this statement ({violation['message']}), so its rules did "
                   f"not check it; PostgreSQL's parser accepts it and gonogo's rules did")
        help_text = "review the statement's locks by hand"
    else:
        level = ERROR if rule in ERROR_RULES else NOTE if rule == "prefer-robust-stmts" else WARNING
        if script.disabled_cleanup and rule.startswith("ban-drop-"):
            level = WARNING  # a disabled cleanup step runs only with its own approval
        message = violation["message"].strip().rstrip(".")
        help_text = (_HELP.get(rule) or violation.get("help")
                     or (_DROP_HELP if rule.startswith("ban-drop-") else "")
                     or f"see https://squawkhq.com/docs/{rule}").strip().rstrip(".")
    if script.one_transaction and rule in _CONCURRENTLY_RULES:
        help_text = (f"{help_text}; the file runs in one transaction, which CONCURRENTLY cannot: put that "
                     f"statement alone in a migration of its own (a file of one statement runs outside a "
                     f"transaction, with gonogo and with the tool)")
    problem = PROBLEMS.get(rule, "")
    if rule == "constraint-missing-not-valid" and unit and _builds_index_only(unit.node):
        # PostgreSQL refuses NOT VALID on UNIQUE, PRIMARY KEY and EXCLUDE: the problem is the
        # index build under ACCESS EXCLUSIVE (gonogo's constraint-builds-index), not a scan
        problem, help_text = "index-build-exclusive", _INDEX_CONSTRAINT_HELP
    if unit is None:
        return Finding(rule=rule, source="squawk", level=level, file=script.file, line=line,
                       statement="", lock="", message=message, help=help_text, problem=problem)
    return script.finding(unit, rule=rule, level=level, lock=script.held_lock(unit),
                          message=message, help=help_text, source="squawk", problem=problem)


_INDEX_CONSTRAINT_HELP = ("CREATE UNIQUE INDEX CONCURRENTLY name ON table (columns), then ALTER TABLE table "
                         "ADD CONSTRAINT name UNIQUE USING INDEX name (or PRIMARY KEY USING INDEX): a catalog-only "
                         "change; NOT VALID is only for CHECK and FOREIGN KEY")


def _no_rewrite(script: Script, unit) -> bool:
    changes = script.type_changes(unit)
    return bool(changes) and all(c.rewrite is False for c in changes)


def _builds_index_only(node) -> bool:
    """ADD CONSTRAINT of UNIQUE / PRIMARY KEY / EXCLUDE only: no constraint NOT VALID applies to."""
    kinds = [cmd.def_.contype for cmd in getattr(node, "cmds", None) or ()
             if cmd.subtype == enums.AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint)]
    return bool(kinds) and all(k in (enums.ConstrType.CONSTR_UNIQUE, enums.ConstrType.CONSTR_PRIMARY,
                                     enums.ConstrType.CONSTR_EXCLUSION) for k in kinds)


def _only_validates(node) -> bool:
    return isinstance(node, ast.AlterTableStmt) and all(
        cmd.subtype == enums.AlterTableType.AT_ValidateConstraint for cmd in node.cmds or ())
