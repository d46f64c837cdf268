"""What the gonogo_sample DAG costs production: the time of one sample (a guarded session, the
app's top statements ranked and read from pg_stat_statements, the control probe, the rows
written, the pruning) and the space the samples take, on a database whose pg_stat_statements
holds 200 of the app's statements (50 kept per sample, the default)."""

from __future__ import annotations

import statistics
import time

from benchlib import table
from gonogo.postgres.target import SessionGuards
from gonogo.watching.watch import sample_production
from helpers import create_database, drop_database

SAMPLES = 40
STATEMENTS = 200


def test_bench_samples(prod_cluster):
    target = create_database(prod_cluster, "samples", name="production")
    try:
        with target.connect("bench/app", guards=None) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("CREATE TABLE item (id int PRIMARY KEY, v int)")
            conn.execute("INSERT INTO item SELECT g, g % 100 FROM generate_series(1, 10000) g")
            conn.execute("SELECT pg_stat_statements_reset()")
            for n in range(1, STATEMENTS + 1):  # 200 distinct statements: IN lists of 1 to 200 values
                conn.execute(f"SELECT count(*) FROM item WHERE id IN ({', '.join(['%s'] * n)})", list(range(n)))
        seconds = []
        for _ in range(SAMPLES):
            started = time.perf_counter()
            done = sample_production(target, "bench/sample", SessionGuards(statement_timeout="1min"))
            seconds.append(time.perf_counter() - started)
        with target.connect("bench/size", guards=None) as conn:
            size = conn.execute("SELECT sum(pg_total_relation_size(c)) FROM unnest(ARRAY['gonogo.samples', "
                                "'gonogo.sample_statements']::regclass[]) c").fetchone()[0]
            rows = conn.execute("SELECT count(*) FROM gonogo.sample_statements").fetchone()[0]
    finally:
        drop_database(prod_cluster, target.dbname)
    per_sample = size / SAMPLES
    table("samples", "gonogo_sample: cost of one sample on production",
          ["what", "measured"],
          [("one sample (session, rank, read, probe, write, prune): median / max",
            f"{statistics.median(seconds) * 1000:.0f} ms / {max(seconds) * 1000:.0f} ms"),
           ("statements kept per sample", done["statements"]),
           ("rows per sample", f"1 + {rows // SAMPLES}"),
           ("space per sample (tables + indexes)", f"{per_sample / 1024:.1f} kB"),
           ("8 days every 15 min (768 samples)", f"{per_sample * 768 / 1024 / 1024:.1f} MB"),
           ("the cap, 3,000 samples", f"{per_sample * 3000 / 1024 / 1024:.1f} MB")],
          notes=[f"{SAMPLES} samples of a database whose pg_stat_statements holds {STATEMENTS} of the app's "
                 f"statements; the control probe is 5 runs of a 30,000-row generate_series."])
