"""Seed 6 / Phase 2: a named PITR restore point before production is touched."""

from __future__ import annotations

import psycopg

from gonogo.results import GateResult, Verdict


def create_restore_point(conn: psycopg.Connection, name: str) -> GateResult:
    wal_level, archive_mode = conn.execute(
        "SELECT current_setting('wal_level'), current_setting('archive_mode')").fetchone()
    lsn = str(conn.execute("SELECT pg_create_restore_point(%s)", [name]).fetchone()[0])
    walfile = conn.execute("SELECT pg_walfile_name(%s::pg_lsn)", [lsn]).fetchone()[0]
    archived = wal_level in ("replica", "logical") and archive_mode in ("on", "always")
    if archived:
        # Close the WAL segment holding the restore point, so the archiver ships it now.
        conn.execute("SELECT pg_switch_wal()")
    return GateResult(
        gate="restore_point", title="Restore point created", phase="production",
        verdict=Verdict.PASS if archived else Verdict.WARN,
        value=f"{name} at LSN {lsn} (WAL file {walfile})",
        threshold="WAL archived (wal_level replica, archive_mode on)",
        message=(f"recovery_target_name = '{name}' recovers to just before the batch"
                 if archived else f"restore point written, but WAL is not archived "
                                  f"(wal_level={wal_level}, archive_mode={archive_mode}): it cannot be recovered to"),
        hint="" if archived else "enable WAL archiving or rely on the backup alone",
        details=[{"name": name, "lsn": lsn, "walfile": walfile}])
