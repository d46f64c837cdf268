"""Seed 6 / Phase 2: a named PITR restore point before production is touched, and proof
that the WAL holding it reached the archive (pg_stat_archiver), not just the settings."""

from __future__ import annotations

import time

import psycopg

from gonogo.clone.pitr import procedure
from gonogo.results import GateResult, Verdict
from gonogo.postgres.sqlfile import query


_RESTORE_HINT = "the command that copies a WAL file from your archive, e.g. cp /archive/%f %p"


def create_restore_point(conn: psycopg.Connection, name: str, archive_wait: float = 30.0) -> GateResult:
    wal_level, archive_mode = conn.execute(
        "SELECT current_setting('wal_level'), current_setting('archive_mode')").fetchone()
    lsn = str(conn.execute("SELECT pg_create_restore_point(%s)", [name]).fetchone()[0])
    walfile = conn.execute("SELECT pg_walfile_name(%s::pg_lsn)", [lsn]).fetchone()[0]
    details = {"name": name, "lsn": lsn, "walfile": walfile}
    archiving = wal_level in ("replica", "logical") and archive_mode in ("on", "always")
    if not archiving:
        return _result(Verdict.WARN, details, f"restore point written, but WAL is not archived "
                       f"(wal_level={wal_level}, archive_mode={archive_mode}): it cannot be recovered to",
                       "enable WAL archiving, or rely on the backup alone")
    try:
        # Close the segment holding the restore point so the archiver ships it now.
        conn.execute("SELECT pg_switch_wal()")
    except psycopg.errors.InsufficientPrivilege:
        return _result(Verdict.WARN, details, "restore point written; this role may not switch WAL, so its "
                       "segment is archived only when it fills", "GRANT EXECUTE ON FUNCTION pg_switch_wal() "
                       "to the migration role to have the archive confirmed before the batch runs")
    deadline = time.monotonic() + archive_wait
    while True:
        archived, failed, last_failed = conn.execute(query("catalog.sql", "archiver_state")).fetchone()
        if archived and archived >= walfile:
            details["archived"] = archived
            details["pitr_procedure"] = procedure(name, lsn, restore_command_hint=_RESTORE_HINT)
            return _result(Verdict.PASS, details, f"WAL {walfile} is archived: recovery_target_name = "
                           f"'{name}' recovers to just before the batch", "")
        if time.monotonic() > deadline:
            details |= {"last_archived": archived, "failed_count": failed, "last_failed": last_failed}
            return _result(Verdict.WARN, details, f"restore point written, but WAL {walfile} was not archived "
                           f"within {archive_wait:.0f} s (last archived: {archived}, last failed: {last_failed})",
                           "check archive_command and the server log before relying on PITR")
        time.sleep(0.2)


def _result(verdict: Verdict, details: dict, message: str, hint: str) -> GateResult:
    return GateResult(
        gate="restore_point", title="Restore point created", phase="production", verdict=verdict,
        value=f"{details['name']} at LSN {details['lsn']} (WAL {details['walfile']})",
        threshold="its WAL segment archived", message=message, hint=hint, details=[details])
