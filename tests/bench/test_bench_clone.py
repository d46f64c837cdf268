"""Benchmark 2: how fast production is cloned into staging for the rehearsal.

Four ways, side by side at each scale, REPEAT times, interleaved so that the machine's noise
falls on all of them alike:
  seed      pg_dump db > file.sql, then psql -f file.sql into an empty staging database
  streamed  what the DAG's restore_staging runs: gonogo.clone.snapshot.stream_into (drop, create,
            pg_dump --format=custom piped into pg_restore, ANALYZE): no file, no parallel jobs
  file      dump to a file, then restore it with parallel jobs: snapshot.dump (directory format,
            parallel jobs, as the DAG's snapshot was made until it streamed) and restore_into
  physical  the limit: an online physical copy of the production cluster (pg_basebackup), made
            consistent at a restore point and started as a new cluster (LocalCluster.recover)

Every restored copy must hold production's row counts, so a method that broke fails loudly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import benchlib
import sample_app
from gonogo.clone import snapshot
from gonogo.postgres.pgbin import find_bindir
from gonogo_local.cluster import LocalCluster
from gonogo.gates.restore_point import create_restore_point
from gonogo.results import Verdict
from gonogo.postgres.target import Target
from helpers import create_database, drop_database

SCALES = benchlib.scales("1,5,10")


@dataclass(frozen=True)
class Clone:
    """One measured clone: seconds to take the copy (None: taken and restored at once), seconds
    to restore it, the copy's row counts."""

    dump: float | None
    restore: float
    counts: dict[str, int]


@dataclass(frozen=True)
class Bench:
    """What every method gets: production, the clusters, and a scratch folder it may fill."""

    production: Target
    prod_cluster: LocalCluster
    staging_cluster: LocalCluster
    base: Path
    scratch: Path


def quiet(_: str) -> None:
    pass


def counts_of(target: Target) -> dict[str, int]:
    with target.connect("bench", guards=None) as conn:
        return sample_app.row_counts(conn)


def _client(tool: str, target: Target, *args: str) -> None:
    subprocess.run([str(find_bindir() / tool), *args], env={**os.environ, **target.libpq_env()},
                   check=True, capture_output=True)


def seed_way(bench: Bench) -> Clone:
    """The seed's checklist: a plain SQL dump replayed by psql, one statement after another."""
    dump_file = bench.scratch / "prod.sql"
    started = time.monotonic()
    _client("pg_dump", bench.production, f"--file={dump_file}")
    dumped = time.monotonic()
    staging = create_database(bench.staging_cluster, "bench_seed", name="staging")
    try:
        _client("psql", staging, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(dump_file))
        restored = time.monotonic()
        return Clone(dumped - started, restored - dumped, counts_of(staging))
    finally:
        drop_database(bench.staging_cluster, staging.dbname)
        dump_file.unlink()


def streamed_way(bench: Bench) -> Clone:
    """The DAG's prepare.restore_staging, with the DAG's defaults."""
    staging = bench.staging_cluster.target("bench_streamed", name="staging")
    try:
        seconds = snapshot.stream_into(bench.production, staging, app="bench/restore_staging", log=quiet)
        return Clone(None, seconds, counts_of(staging))
    finally:
        drop_database(bench.staging_cluster, staging.dbname)


def file_way(bench: Bench) -> Clone:
    """A dump file (directory format, parallel jobs, no compression, no fsync: read once, right
    away) restored with parallel jobs."""
    staging = bench.staging_cluster.target("bench_file", name="staging")
    folder = bench.scratch / "snapshot"
    try:
        taken = snapshot.dump(bench.production, folder, log=quiet, app="bench/snapshot", compress=0, sync=False)
        seconds = snapshot.restore_into(taken, staging, production=bench.production, log=quiet)
        return Clone(taken.seconds, seconds, counts_of(staging))
    finally:
        drop_database(bench.staging_cluster, staging.dbname)
        shutil.rmtree(folder, ignore_errors=True)


def physical_way(bench: Bench) -> Clone:
    """pg_basebackup of the running production cluster plus the WAL up to a restore point,
    recovered into a new cluster: what a physical clone costs without stopping production."""
    name = f"bench-physical-{os.getpid()}"
    point = f"bench_clone_{time.time_ns()}"
    started = time.monotonic()
    backup = bench.prod_cluster.base_backup(bench.base / f"{name}-backup")
    try:
        with bench.production.connect("bench", guards=None) as conn:
            marked = create_restore_point(conn, point)  # waits until its WAL segment is archived
        assert marked.verdict is Verdict.PASS, marked.message
        dumped = time.monotonic()
        copy = LocalCluster.recover(bench.base, name, backup, archive_dir=bench.prod_cluster.archive_dir,
                                    restore_point=point, password=bench.prod_cluster.password)
        restored = time.monotonic()
        return Clone(dumped - started, restored - dumped, counts_of(copy.target(bench.production.dbname)))
    finally:
        if leftover := LocalCluster.load(bench.base, name):
            leftover.remove()
        shutil.rmtree(backup, ignore_errors=True)


METHODS: dict[str, Callable[[Bench], Clone]] = {
    "seed: pg_dump > .sql, psql -f": seed_way,
    "gonogo: streamed (the DAG's)": streamed_way,
    "file: dump, then parallel restore": file_way,
    "physical: pg_basebackup + recovery": physical_way,
}


def test_clone_speed(prod_cluster, staging_cluster, cluster_base, tmp_path):
    rows = []
    for scale in SCALES:
        production = create_database(prod_cluster, "bench_clone", name="production")
        try:
            expected = sample_app.load(production, scale=scale)
            with production.connect("bench", guards=None) as conn:
                size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            bench = Bench(production, prod_cluster, staging_cluster, cluster_base, tmp_path)
            runs: dict[str, list[Clone]] = {name: [] for name in METHODS}
            for _ in range(benchlib.REPEAT):
                for name, method in METHODS.items():
                    clone = method(bench)
                    assert clone.counts == expected, f"{name} at scale {scale}: rows differ from production"
                    runs[name].append(clone)
        finally:
            drop_database(prod_cluster, production.dbname)
        seed_total = benchlib.median([(c.dump or 0) + c.restore for c in runs[next(iter(METHODS))]])
        for name, clones in runs.items():
            dumps = [c.dump for c in clones if c.dump is not None]
            restore = benchlib.median([c.restore for c in clones])
            total = benchlib.median([(c.dump or 0) + c.restore for c in clones])
            rows.append([f"{scale:g}", f"{size / 1e6:.0f}", name, f"{benchlib.median(dumps):.2f}" if dumps else "—",
                         f"{restore:.2f}", f"{total:.2f}",
                         f"{size / 1e6 / total:.1f}", benchlib.ratio(seed_total, total)])
    benchlib.table(
        "clone", "Rehearsal clone: production snapshot restored into staging",
        ["scale", "db MB", "method", "dump s", "restore s", "total s", "MB/s", "speed vs seed"], rows,
        notes=["db MB: pg_database_size of production. MB/s: that size over the total. "
               "speed vs seed: the seed's total over this method's total (higher is faster).",
               "streamed and file restores include DROP/CREATE DATABASE and ANALYZE, as the DAG's restore_staging "
               "does; streamed has no dump column: pg_dump and pg_restore run at once, joined by a pipe.",
               "physical: pg_basebackup (-X none) of the running production cluster and a restore point whose "
               "WAL is archived; restore = copy into a new cluster, replay to the restore point, promote. It copies "
               "the whole cluster (every database, ~25 MB of catalogs and templates) rather than one database, "
               "and needs a staging server of the same major version and WAL archiving on production.",
               "Every restored copy was checked to hold production's row counts."])
