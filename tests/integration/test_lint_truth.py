"""The lint's claims on every statement of the corpus (tests/corpus/lint) against what
PostgreSQL 15 really does, measured on a real cluster by tests/lint_truth.py.

For each statement, compared:
- the lock on the table it works on: gonogo.lint.lock_taken.lock_taken(node) against the
  strongest mode the statement added on that table (an index counts for its table);
- the locks on other tables: lock_taken.other_locks(node) where the lint has it, against every
  other table the statement locked in a mode a plain read or write does not take (SHARE UPDATE
  EXCLUSIVE or stronger), and every table other_locks names; without other_locks those are
  listed as not compared;
- the lock each finding states (Finding.lock) against the mode measured on its statement's table;
- "claims a rewrite" (a finding of problem "rewrite", level error) against a table of the
  schema getting new, non-empty storage;
- "claims a whole-table write" (a finding of problem "whole-table-write"; "unbounded-write", the
  lint's "may touch every row", must be there for each measured one and claims nothing) against one
  transaction writing at least lint_truth.WHOLE_TABLE of a table's rows.
The test fails listing every mismatch, grouped by kind, with file:line, claimed and measured.
"""

from __future__ import annotations

import warnings
from collections import defaultdict

import pytest
from pglast import ast, enums

import lint_truth
from gonogo.lint import ERROR, KnownSchema
from gonogo.lint import lock_taken as lock_taken_module
from gonogo.lint.lock_taken import lock_taken, node_table
from gonogo.lint.script import Script
from gonogo.postgres.locks import LOCK_MODES, strongest
from gonogo.postgres.statements import parse_script

_OBJ = enums.ObjectType
_SCHEMA_CHANGE = LOCK_MODES.index("SHARE UPDATE EXCLUSIVE")  # and stronger: not what reads and writes take


@pytest.fixture(scope="module")
def corpus(staging_cluster) -> lint_truth.Corpus:
    return lint_truth.measure_corpus(staging_cluster)


@pytest.fixture(scope="module")
def findings():
    return lint_truth.lint_corpus()


def test_the_corpus_has_150_statements_in_every_shape_and_all_of_them_run(corpus):
    shapes = {s.shape for s in corpus.statements}
    assert len(corpus.statements) >= 150, len(corpus.statements)
    for shape in ("ALTER TABLE AddColumn", "ALTER TABLE AddConstraint", "ALTER TABLE AlterColumnType",
                  "ALTER TABLE SetNotNull", "ALTER TABLE ValidateConstraint", "CREATE INDEX",
                  "CREATE INDEX CONCURRENTLY", "DROP INDEX", "DROP INDEX CONCURRENTLY", "RENAME COLUMN",
                  "RENAME TABLE", "Update", "Delete", "Do", "CreateTrig", "View", "AlterEnum", "AlterSeq",
                  "Comment", "Grant", "ConstraintsSet"):
        assert shape in shapes, f"no {shape} in the corpus"
    failed = [f"{m.statement.where()} {m.statement.summary()}: {m.error}"
              for m in corpus.measured.values() if m.how == "error"]
    assert not failed, "statements of the corpus that do not run on its schema:\n" + "\n".join(failed)


def test_the_measurement_sees_locks_rewrites_and_row_writes(corpus):
    """The instrument is not blind: PostgreSQL documents these, so the measurement must see them."""
    measured = list(corpus.measured.values())
    assert any(m.rewritten for m in measured), "no rewrite measured"
    assert any(m.indexed for m in measured), "no index build measured"
    assert any(m.whole_table for m in measured), "no whole-table write measured"
    assert any("ACCESS EXCLUSIVE" in m.locks.values() for m in measured)
    observed = [m for m in measured if m.how == "observed"]
    assert observed, "no statement outside a transaction block was measured"
    unseen = [f"{m.statement.where()}: {m.error}" for m in observed if m.error or not m.locks]
    assert not unseen, "statements whose locks were only sampled or not seen:\n" + "\n".join(unseen)


def test_the_lints_claims_equal_what_postgresql_does(corpus, findings):
    mismatches: dict[str, list[str]] = defaultdict(list)
    not_compared: list[str] = []
    other_locks = getattr(lock_taken_module, "other_locks", None)
    on_statement = defaultdict(list)
    for finding in findings:
        statement = lint_truth.statement_at(corpus.statements, finding.file, finding.line)
        if statement is not None:
            on_statement[statement].append(finding)
    units = _units_by_line()
    known_at = _known_before_each()

    for statement in corpus.statements:
        m = corpus.measured[statement]
        if m.how == "error":
            continue
        where = f"{statement.where()} {statement.summary()}"
        known = known_at[statement]

        def differ(kind: str, claimed, measured) -> None:
            mismatches[kind].append(f"{where}\n      claimed {claimed or 'nothing'}, measured {measured or 'nothing'}")

        own: dict[str, str | None] = {}
        others: dict[str, str] = {}
        for node in statement.nodes():
            table = _resolve(_own_relation(node), corpus.indexes)
            mode = lock_taken(node)
            if table is not None:
                own[table] = strongest([own.get(table), mode])
            elif mode is not None:
                differ("lock on its table", f"{mode} on a table the test cannot name", m.locks)
            if other_locks is not None:
                for name, other_mode in (other_locks(node, known) or {}).items():
                    name = _resolve(name, corpus.indexes)
                    others[name] = strongest([others.get(name), other_mode])
        for table, mode in own.items():
            if mode != m.locks.get(table):
                differ("lock on its table", f"{mode} on {table}", f"{m.locks.get(table)} on {table}")
        for table, measured_mode in sorted(m.locks.items()):
            if table in own:
                continue
            claimed_mode = others.get(table)
            if other_locks is None:
                if LOCK_MODES.index(measured_mode) >= _SCHEMA_CHANGE:
                    not_compared.append(f"{where}: {measured_mode} on {table}")
            elif claimed_mode != measured_mode and (claimed_mode or LOCK_MODES.index(measured_mode) >= _SCHEMA_CHANGE):
                differ("lock on another table", f"{claimed_mode} on {table}", f"{measured_mode} on {table}")
        for table, claimed_mode in others.items():
            if table not in m.locks and table not in own:
                differ("lock on another table", f"{claimed_mode} on {table}", f"nothing on {table}")

        mine = on_statement[statement]
        for finding in mine:
            if not finding.lock:
                continue
            node = units.get((finding.file, finding.line), statement.node)
            table = _resolve(_own_relation(node), corpus.indexes)
            if finding.lock != m.locks.get(table):
                differ("a finding's lock", f"{finding.lock} on {table} ({finding.rule})",
                       f"{m.locks.get(table)} on {table}")

        claims_rewrite = any(f.key_problem == "rewrite" and f.level == ERROR for f in mine)
        if claims_rewrite != bool(m.rewritten):
            differ("rewrite", "a rewrite" if claims_rewrite else "no rewrite",
                   f"rewrite of {', '.join(sorted(m.rewritten))}" if m.rewritten else "no rewrite")
        # "every row" is a claim; "may touch every row" (unbounded-write) says the WHERE cannot
        # tell: it must be there for every measured whole-table write, and claims nothing else
        claims_whole = any(f.key_problem == "whole-table-write" for f in mine)
        flags_whole = claims_whole or any(f.key_problem == "unbounded-write" for f in mine)
        measured_whole = ", ".join(f"{t} {share:.0%}" for t, share in sorted(m.written.items()) if share is not None)
        if (claims_whole and not m.whole_table) or (m.whole_table and not flags_whole):
            differ("whole-table write", "a whole-table write" if claims_whole else "no whole-table write",
                   f"rows written in one transaction: {measured_whole or 'none'}")

    if not_compared:
        warnings.warn(f"locks on other tables not compared (gonogo.lint.lock_taken has no other_locks): "
                      f"{len(not_compared)}: " + "; ".join(not_compared))
    total = sum(len(v) for v in mismatches.values())
    report = [f"{total} mismatches between the lint's claims and PostgreSQL "
              f"({len(corpus.statements)} statements measured in {corpus.seconds:.1f} s):"]
    for kind, items in sorted(mismatches.items()):
        report.append(f"\n== {kind}: {len(items)}")
        report += [f"  {item}" for item in items]
    if not_compared:
        report.append(f"\n== not compared (no other_locks in the lint): {len(not_compared)}")
        report += [f"  {item}" for item in not_compared]
    assert not mismatches, "\n".join(report)


def _known_before_each() -> dict:
    """{statement: the schema it runs on}: schema.sql, and the statements it is chained to."""
    base = KnownSchema.of(parse_script(lint_truth.SCHEMA.read_text()))
    known = {}
    for path in lint_truth.corpus_files():
        for group in lint_truth.cases(lint_truth.read_corpus(path)):
            schema = base
            for statement in group:
                known[statement] = schema
                schema = schema.after([statement])
    return known


def _units_by_line() -> dict[tuple[str, int], ast.Node]:
    """The statement gonogo's Script sees at each (file, line), statements inside DO blocks included."""
    units = {}
    for path in lint_truth.corpus_files():
        script = Script(lint_truth.sql_file(path).as_run, file=path.name, step_kind="schema",
                        step_enabled=True, rollback=False)
        for unit in script.units:
            units[(path.name, unit.line)] = unit.node
    return units


def _resolve(name: str | None, indexes: dict[str, str]) -> str | None:
    """An index's table, else the name itself."""
    return indexes.get(name, name) if name else None


def _own_relation(node: ast.Node) -> str | None:
    """The relation a statement works on, as the test reads it (independently of lock_taken):
    an index stands for its table (see _resolve)."""
    match node:
        case ast.CreateStmt():
            return None  # a new table is nobody's yet; its REFERENCES lock other tables
        case ast.DropStmt():
            first = node.objects[0] if node.objects else None
            if not isinstance(first, (list, tuple)):
                return None  # DROP TYPE and the like name no relation
            names = [n.sval for n in first]
            on_table = node.removeType in (_OBJ.OBJECT_TRIGGER, _OBJ.OBJECT_POLICY, _OBJ.OBJECT_RULE)
            return names[-2] if on_table and len(names) > 1 else names[-1]
        case ast.CommentStmt():
            names = [n.sval for n in node.object] if isinstance(node.object, (list, tuple)) else []
            if node.objtype == _OBJ.OBJECT_COLUMN:
                return names[-2] if len(names) > 1 else None
            return names[-1] if names and node.objtype in (_OBJ.OBJECT_TABLE, _OBJ.OBJECT_INDEX) else None
        case ast.ViewStmt():
            return node.view.relname
        case ast.AlterSeqStmt() | ast.CreateSeqStmt():
            return node.sequence.relname
        case ast.CreatePolicyStmt():
            return node.table.relname
        case ast.SelectStmt():
            first = next((item for item in node.fromClause or () if isinstance(item, ast.RangeVar)), None)
            return first.relname if first else None
        case ast.VacuumStmt():
            first = next(iter(node.rels or ()), None)
            return first.relation.relname if first is not None else None
        case ast.GrantStmt():
            first = next((item for item in node.objects or () if isinstance(item, ast.RangeVar)), None)
            return first.relname if first else None
    return node_table(node)
