"""Seed Phase 1 "Enable monitoring": production keeps per-statement statistics, and the
production role can read them: the watch window compares the app's query latency with them.

A role without pg_read_all_settings cannot read shared_preload_libraries: then whether the
library is loaded is asked of pg_stat_statements itself (it refuses to answer when it is not).
A role without pg_read_all_stats sees other roles' statements with no queryid: when the app
runs as another role, its queries are invisible to the watch window."""

from __future__ import annotations

import psycopg

from gonogo.results import GateResult, Verdict
from gonogo.postgres.sqlfile import query


def monitoring_enabled(conn: psycopg.Connection) -> GateResult:
    role = conn.info.user
    preload, io_timing, created = conn.execute(query("catalog.sql", "monitoring_state")).fetchone()
    loaded = None if preload is None else "pg_stat_statements" in [lib.strip() for lib in preload.split(",")]
    hidden = None
    if created and loaded is not False:
        try:
            with conn.transaction():
                hidden = conn.execute(query("catalog.sql", "statements_hidden")).fetchone()[0]
            loaded = True
        except psycopg.errors.ObjectNotInPrerequisiteState:  # "must be loaded via shared_preload_libraries"
            loaded = False
    state = {True: "loaded", False: "not loaded", None: "loaded or not: cannot tell"}[loaded]
    value = (f"pg_stat_statements {state}, {'created' if created else 'not created'} in the database; "
             f"track_io_timing={io_timing}")
    if loaded and created and not hidden:
        return _result(Verdict.PASS, value, "query statistics are collected, so latency after the rollout can be "
                                            "compared", "")
    if loaded and created:
        return _result(Verdict.WARN, value + f"; {hidden} statements of other roles hidden from {role}",
                       f"role {role} cannot see the statements of other roles (the app's, if it logs in as "
                       f"another role), nor their lock waits: the watch window would not see them get slower",
                       f"as a superuser: GRANT pg_read_all_stats TO {role} (or GRANT pg_monitor TO {role})")
    fixes = []
    if loaded is None:
        fixes.append(f"as a superuser: GRANT pg_read_all_settings TO {role} (or GRANT pg_monitor TO {role}) so "
                     f"gonogo can read shared_preload_libraries")
    if loaded is False:
        fixes.append("add pg_stat_statements to shared_preload_libraries (restart)")
    if not created:
        fixes.append("CREATE EXTENSION pg_stat_statements")
    message = "without pg_stat_statements the watch window cannot compare query latency"
    if loaded is None:
        message = (f"role {role} may not read shared_preload_libraries, so whether pg_stat_statements is loaded "
                   f"is not known; " + message)
    return _result(Verdict.WARN, value, message, "; ".join(fixes))


def _result(verdict: Verdict, value: str, message: str, hint: str) -> GateResult:
    return GateResult(
        gate="monitoring_enabled", title="Monitoring enabled", phase="preflight", subject="production",
        verdict=verdict, value=value, threshold="pg_stat_statements loaded and created, readable by the role",
        message=message, hint=hint)
