"""Benchmark: `gonogo lint` where migration authors run it (editor, pre-commit, CI).

Wall time of one `gonogo lint` call on 1, 10 and 50 migration files in the shapes ORMs and
people write (Prisma, Rails/Django-generated, hand-written), written into tmp_path; squawk
alone on the same files for comparison; the same with the lint installed alone (pip install
of the project, no extra) and that install's size; and large files: how long the lint takes
on 1 and 5 MB, and how fast it refuses 50 MB. Targets (issue 12): 50 files in 1 s or less,
an install of the lint alone of 60 MB or less. Measured, never asserted.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import benchlib
from gonogo.lint.squawk import squawk_binary
from helpers import install_lint_alone

# {i}: a number that makes each file's names its own
SHAPES = {
    "prisma": ('-- CreateTable\nCREATE TABLE "Label{i}" (\n    "id" SERIAL NOT NULL,\n    "name" TEXT NOT NULL,\n'
               '    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,\n\n'
               '    CONSTRAINT "Label{i}_pkey" PRIMARY KEY ("id")\n);\n\n-- CreateIndex\n'
               'CREATE UNIQUE INDEX "Label{i}_name_key" ON "Label{i}"("name");\n\n-- AddForeignKey\n'
               'ALTER TABLE "Issue" ADD CONSTRAINT "Issue_label{i}Id_fkey" FOREIGN KEY ("label{i}Id") '
               'REFERENCES "Label{i}"("id") ON DELETE SET NULL ON UPDATE CASCADE;\n'),
    "rails": ('ALTER TABLE "orders" ADD "note_{i}" character varying;\n'
              'CREATE INDEX "index_orders_on_note_{i}" ON "orders" ("note_{i}");\n'),
    "django": ('BEGIN;\n--\n-- Add field priority_{i} to issue\n--\n'
               'ALTER TABLE "tracker_issue" ADD COLUMN "priority_{i}" integer DEFAULT 0 NOT NULL;\n'
               'ALTER TABLE "tracker_issue" ALTER COLUMN "priority_{i}" DROP DEFAULT;\nCOMMIT;\n'),
    "hand-written": ('-- batched, bounded by the key\nUPDATE issues SET status_{i} = \'open\'\n'
                     ' WHERE id BETWEEN 1 AND 10000 AND status_{i} IS NULL;\n'
                     'ALTER TABLE issues ADD CONSTRAINT issues_status_{i}_check CHECK (status_{i} <> \'\') NOT VALID;\n'
                     'ALTER TABLE issues VALIDATE CONSTRAINT issues_status_{i}_check;\n'),
    "do-block": ('DO $$\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = \'fk_{i}\') THEN\n'
                 '    ALTER TABLE comments ADD CONSTRAINT fk_{i} FOREIGN KEY (issue_id) REFERENCES issues (id) NOT VALID;\n'
                 '  END IF;\nEND $$;\n'),
}
COUNTS = (1, 10, 50)


def write_migrations(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    shapes = list(SHAPES.values())
    paths = []
    for i in range(count):
        path = folder / f"2025030{i // 10}{i % 10:02d}0000_change_{i}.sql"
        path.write_text(shapes[i % len(shapes)].format(i=i))
        paths.append(path)
    return paths


def wall(command: list[str], cwd: Path) -> tuple[float, int]:
    """Median wall seconds of the command, and its exit code."""
    times, code = [], None
    for _ in range(benchlib.REPEAT):
        started = time.perf_counter()
        code = subprocess.run(command, cwd=cwd, capture_output=True).returncode
        times.append(time.perf_counter() - started)
    return benchlib.median(times), code


def big_file(path: Path, megabytes: float) -> Path:
    """A seed-data migration: a table, rows as INSERTs, an index."""
    lines = ["CREATE TABLE IF NOT EXISTS country (id bigint PRIMARY KEY, code text NOT NULL, name text NOT NULL);"]
    size, i = 0, 0
    while size < megabytes * 2**20:
        i += 1
        lines.append(f"INSERT INTO country (id, code, name) VALUES ({i}, 'C{i:07d}', 'Country {i} of the seed data');")
        size += len(lines[-1]) + 1
    lines.append("CREATE INDEX CONCURRENTLY IF NOT EXISTS country_code_idx ON country (code);")
    path.write_text("\n".join(lines) + "\n")
    return path


def rss_and_wall(command: list[str], cwd: Path) -> tuple[float, str, int]:
    """Wall seconds, peak memory (GNU time's %M) and the exit code, of one run."""
    timer = shutil.which("time") or "/usr/bin/time"
    started = time.perf_counter()
    if Path(timer).exists():
        done = subprocess.run([timer, "-f", "%M", *command], cwd=cwd, capture_output=True, text=True)
        peak = f"{int(done.stderr.strip().splitlines()[-1]) / 1024:.0f} MB"
    else:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
        peak = "not measured: no GNU time"
    return time.perf_counter() - started, peak, done.returncode


def test_bench_lint_cli(tmp_path):
    folders = {n: tmp_path / f"files_{n}" for n in COUNTS}
    for n, folder in folders.items():
        write_migrations(folder, n)
    bin_dir, megabytes = install_lint_alone(tmp_path / "install")

    rows = []
    for n, folder in folders.items():
        files = sorted(str(p) for p in folder.iterdir())
        project, code = wall([sys.executable, "-m", "gonogo", "lint", *files], tmp_path)
        alone, _ = wall([str(bin_dir / "gonogo"), "lint", *files], tmp_path)
        squawk, _ = wall([squawk_binary(), "--reporter", "json", *files], tmp_path)
        rows.append((n, f"{project:.2f} s", f"{alone:.2f} s", f"{squawk:.3f} s", code))
    benchlib.table(
        "lint_cli", "gonogo lint PATH...: one call, wall time",
        ("files", "gonogo lint (project venv)", "gonogo lint (installed alone)", "squawk alone", "exit"), rows,
        notes=[f"Install of the lint alone (pip install of the project, no extra): {megabytes:.0f} MB added to an "
               f"empty venv (target: 60 MB or less).",
               f"Files: {', '.join(SHAPES)} shapes in turn; the 50-file target is 1 s or less."])

    big = []
    for size in (1, 5, 50):
        path = big_file(tmp_path / f"seed_{size}mb.sql", size - 0.1 if size == 5 else size)
        seconds, peak, code = rss_and_wall([str(bin_dir / "gonogo"), "lint", str(path)], tmp_path)
        big.append((f"{path.stat().st_size / 2**20:.1f} MB", f"{seconds:.1f} s", peak,
                    "refused (exit 2)" if code == 2 else f"linted (exit {code})"))
    benchlib.table("lint_cli_large", "gonogo lint on a large file (one run each)",
                   ("file", "wall time", "peak memory", "outcome"), big,
                   notes=["Larger than gonogo.lint.paths.MAX_BYTES (5 MB): refused with the file and line, "
                          "before it is read."])
