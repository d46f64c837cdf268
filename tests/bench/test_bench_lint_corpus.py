"""Benchmark: the static lint against measured ground truth, gonogo and squawk on the same corpus.

The corpus is tests/corpus/lint (Prisma, Rails, Django and hand-written statements; see its
README), measured on a real PostgreSQL cluster by tests/lint_truth.py, the module the
ground-truth test (tests/integration/test_lint_truth.py) uses too.

A statement is RISKY when the measurement (lint_truth.Measured.risks) shows one of:
- it holds SHARE or a stronger lock (the app's INSERT/UPDATE/DELETE wait) on a table of the
  schema, a table with rows that the app uses, while it does work that grows with the table:
  the table gets new, non-empty storage (a rewrite: pg_class.relfilenode), an index on it is
  built (a new index, or new index storage), or it reads at least as many rows as the table
  has (a scan: pg_stat_xact_user_tables seq_tup_read + idx_tup_fetch);
- one transaction updates or deletes at least lint_truth.WHOLE_TABLE (half) of a table's rows
  (pg_stat_xact_user_tables n_tup_upd + n_tup_del; for a DO block that COMMITs, the most row
  versions one transaction wrote, from xmin): each of those rows stays locked until COMMIT;
- the one hand label, `-- truth: breaks-app` in the corpus: it renames or drops something the
  app running now uses (a column, a table, a view).
Everything else is not risky, whatever lock it takes: a brief lock with no work that grows
with the table (ADD COLUMN without a volatile default, ADD CONSTRAINT … NOT VALID, DROP INDEX)
waits under the session's lock_timeout, which gonogo sets on every production session.

A tool FLAGS a statement when it reports a violation on it: for gonogo, a finding of level
error or warning (robustness notes never decide a verdict, so they do not flag); for squawk,
any violation of its default rules (squawk --reporter json --pg-version 15), and in a second
row, squawk without its timeout, style and robustness rules (those are about the file, not
the statement's risk). Caught = risky and flagged; missed = risky and not flagged; false
alarm = flagged and not risky. Findings per statement count every finding (gonogo: notes too;
squawk: every violation). Wall time: the whole corpus linted, median of benchlib.REPEAT runs
(gonogo: lint_file per file in one process; squawk: one call with every file).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter, defaultdict

import benchlib
import lint_truth
from gonogo.lint import ERROR, WARNING
from gonogo.lint.squawk import PG_VERSION, squawk_binary

# squawk rules about the file or the column style rather than the statement's risk
SQUAWK_FILE_RULES = frozenset({
    "require-lock-timeout", "require-statement-timeout", "prefer-robust-stmts", "prefer-bigint-over-int",
    "prefer-bigint-over-smallint", "prefer-identity", "prefer-text-field", "prefer-timestamp-tz",
    "ban-char-field", "require-enum-value-ordering",
})


def test_bench_lint_corpus(staging_cluster):
    files = lint_truth.corpus_files()
    corpus = lint_truth.measure_corpus(staging_cluster, files)
    statements = corpus.statements
    risks = {s: corpus.measured[s].risks() for s in statements}
    unmeasured = [s for s in statements if corpus.measured[s].how == "error"]

    gonogo_seconds, findings = _timed(lambda: lint_truth.lint_corpus(files))
    squawk_seconds, violations = _timed(lambda: _squawk(files))

    tools = {
        "gonogo": _by_statement(statements, [(f.file, f.line, f.rule, f.level in (ERROR, WARNING))
                                             for f in findings]),
        "squawk (default rules)": _by_statement(statements, [(v["file"], v["line"], v["rule_name"], True)
                                                             for v in violations]),
        "squawk (no timeout/style/robustness rules)": _by_statement(
            statements, [(v["file"], v["line"], v["rule_name"], v["rule_name"] not in SQUAWK_FILE_RULES)
                         for v in violations]),
    }
    seconds = {"gonogo": gonogo_seconds, "squawk (default rules)": squawk_seconds,
               "squawk (no timeout/style/robustness rules)": squawk_seconds}
    risky = [s for s in statements if risks[s]]

    rows = []
    for name, (flagged, count) in tools.items():
        caught = [s for s in risky if s in flagged]
        false_alarms = [s for s in statements if s in flagged and not risks[s]]
        rows.append([name, len(statements), len(risky), len(caught), len(risky) - len(caught), len(false_alarms),
                     f"{count / len(statements):.2f}", f"{seconds[name]:.2f} s"])
    benchlib.table(
        "lint_corpus", f"Static lint vs measured ground truth: {len(files)} files, {len(statements)} statements",
        ["tool", "statements", "risky (measured)", "caught", "missed", "false alarms", "findings / statement",
         "wall time, whole corpus"], rows,
        notes=[f"Ground truth measured on PostgreSQL in {corpus.seconds:.1f} s; risky as defined in "
               f"tests/bench/test_bench_lint_corpus.py. {_squawk_version()}, --pg-version {PG_VERSION}."]
        + ([f"Not measured (the statement failed on the schema): {len(unmeasured)}"] if unmeasured else []))

    kinds = sorted({kind for s in risky for kind in risks[s]})
    kind_rows = []
    for kind in kinds:
        with_kind = [s for s in risky if kind in risks[s]]
        kind_rows.append([kind, len(with_kind)] + [sum(1 for s in with_kind if s not in flagged)
                                                   for flagged, _ in tools.values()])
    benchlib.table("lint_corpus_misses", "Missed risky statements by kind of risk",
                   ["kind of risk (measured)", "risky", *(f"missed by {name}" for name in tools)], kind_rows,
                   notes=["A statement with two kinds of risk counts in both rows."])

    shape_rows = []
    for name, (flagged, _) in tools.items():
        missed = Counter(s.shape for s in risky if s not in flagged)
        alarms = Counter(s.shape for s in statements if s in flagged and not risks[s])
        for shape in sorted(set(missed) | set(alarms)):
            shape_rows.append([name, shape, missed.get(shape, 0), alarms.get(shape, 0)])
    benchlib.table("lint_corpus_shapes", "Misses and false alarms by statement shape",
                   ["tool", "statement shape", "missed", "false alarms"], shape_rows)

    for name, (flagged, _) in tools.items():
        missed = [s for s in risky if s not in flagged]
        print(f"\n{name} missed {len(missed)}:")
        for s in missed:
            print(f"  {s.where():32} {', '.join(risks[s]):45} {s.summary(60)}")


def _timed(run):
    """(median seconds, the last result) of benchlib.REPEAT runs."""
    times, result = [], None
    for _ in range(benchlib.REPEAT):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return benchlib.median(times), result


def _squawk(files) -> list[dict]:
    done = subprocess.run([squawk_binary(), "--reporter", "json", "--pg-version", PG_VERSION,
                           *(str(p) for p in files)], capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr  # 1: violations found
    violations = json.loads(done.stdout or "[]")
    for v in violations:
        v["file"] = v["file"].rsplit("/", 1)[-1]
        v["line"] = int(v["line"]) + 1  # squawk counts lines from 0
    return violations


def _by_statement(statements, reports):
    """(statements flagged, number of reports) from (file, line, rule, flags) tuples."""
    flagged: dict = defaultdict(list)
    for file, line, rule, flags in reports:
        statement = lint_truth.statement_at(statements, file, line)
        if statement is not None and flags:
            flagged[statement].append(rule)
    return flagged, len(reports)


def _squawk_version() -> str:
    return subprocess.run([squawk_binary(), "--version"], capture_output=True, text=True).stdout.strip()
