"""Seed Phase 1 "Enable monitoring": production keeps per-statement statistics."""

from __future__ import annotations

import psycopg

from gonogo.results import GateResult, Verdict


def monitoring_enabled(conn: psycopg.Connection) -> GateResult:
    preload, io_timing = conn.execute(
        "SELECT current_setting('shared_preload_libraries'), current_setting('track_io_timing')").fetchone()
    loaded = "pg_stat_statements" in [lib.strip() for lib in preload.split(",")]
    created = conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'").fetchone()[0] > 0
    ok = loaded and created
    return GateResult(
        gate="monitoring_enabled", title="Monitoring enabled", phase="preflight", subject="production",
        verdict=Verdict.PASS if ok else Verdict.WARN,
        value=f"pg_stat_statements {'loaded' if loaded else 'not loaded'}, "
              f"{'created' if created else 'not created'} in the database; track_io_timing={io_timing}",
        threshold="pg_stat_statements loaded and created",
        message=("query statistics are collected, so latency after the rollout can be compared"
                 if ok else "without pg_stat_statements the watch window cannot compare query latency"),
        hint="" if ok else "add pg_stat_statements to shared_preload_libraries (restart) and "
                           "CREATE EXTENSION pg_stat_statements")
