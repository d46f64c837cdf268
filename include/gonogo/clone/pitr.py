"""Point-in-time recovery to gonogo's restore point: the settings, and the procedure a DBA follows.

The restore point is written just before the batch touches production
(gates/restore_point.py). Recovering a base backup taken before it, replaying the archived
WAL up to it, gives the database exactly as it was before the first step: the last resort
when a rollback cannot undo what the batch did. PostgreSQL 12+ style: settings go in
postgresql.conf / postgresql.auto.conf and an empty recovery.signal starts a targeted
recovery (there is no recovery.conf any more; its presence stops the server from starting).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Literal

Action = Literal["pause", "promote"]


def recovery_settings(restore_point: str, *, archive_dir: Path | None = None,
                      restore_command: str | None = None, action: Action = "pause") -> dict[str, str]:
    """The settings of a recovery that stops at `restore_point`, as {name: value} (unquoted).

    WAL comes from `archive_dir` (a directory the archive_command copied segments into) or
    from a `restore_command` given verbatim; exactly one of the two.

    action: `pause` (PostgreSQL's default) for a human: the server stays read-only at the
    restore point, so the schema can be checked before anything is decided; a wrong target
    is fixed by stopping, changing the setting and starting again, because no new timeline
    was made yet. pg_wal_replay_resume() then promotes. `promote` for a drill no one
    watches (LocalCluster.recover): it ends recovery by itself at the target.

    recovery_target_inclusive is left out: it applies to lsn, time and xid targets only; a
    named target stops at the restore point record itself. recovery_target_timeline keeps
    its default (latest).
    """
    if (archive_dir is None) == (restore_command is None):
        raise ValueError("give exactly one of archive_dir and restore_command")
    if action not in ("pause", "promote"):
        raise ValueError(f"action must be 'pause' or 'promote', got {action!r}")
    if archive_dir is not None:
        restore_command = f"cp {shlex.quote(str(archive_dir))}/%f %p"
    return {
        "restore_command": restore_command,
        "recovery_target_name": restore_point,
        "recovery_target_action": action,
    }


def render(settings: dict[str, str]) -> str:
    """The settings as postgresql.conf lines: every value quoted, quotes doubled."""
    return "".join(f"{name} = '{value.replace(chr(39), chr(39) * 2)}'\n" for name, value in settings.items())


def procedure(restore_point: str, lsn: str, *, restore_command_hint: str) -> str:
    """Markdown steps that bring a new server up at `restore_point` (written at `lsn`).

    restore_command_hint: the restore_command that fetches one archived segment on the
    recovery host, e.g. `cp /mnt/archive/%f %p` or `pgbackrest --stanza=main archive-get %f "%p"`.
    """
    conf = render(recovery_settings(restore_point, restore_command=restore_command_hint, action="pause"))
    return f"""\
### Point-in-time recovery to restore point `{restore_point}` (LSN `{lsn}`)

gonogo wrote restore point `{restore_point}` at LSN `{lsn}` just before the batch's first
step, and saw its WAL segment archived. These steps bring up a NEW server at that point;
`$NEW` is an empty data directory owned by the server's OS user, mode 0700.

1. **Set the old primary aside.** Stop the app's writes (or the server: `pg_ctl -D $OLD stop -m fast`).
   Keep its data directory: it holds everything written after the restore point.
2. **Pick the base backup.** The newest one that *finished* before LSN `{lsn}` (the end LSN
   of `WAL-Ranges` in its `backup_manifest` is lower). A backup taken after the restore
   point cannot go back to it. Names need not be unique: recovery stops at the FIRST
   `{restore_point}` after the backup's start, so take the newest backup before it.
3. **Restore it into `$NEW`** (untar or copy as the server user). Keep `backup_label`.
4. **Configure recovery**, at the end of `$NEW/postgresql.auto.conf`:
   ```
{_indent(conf, 3)}   ```
   On the same host also set another `port`. Set `archive_mode = off` (or another archive)
   so the new server does not write into production's archive, and restrict `pg_hba.conf`
   to the DBA until the result is checked.
5. **Ask for a targeted recovery:** `touch $NEW/recovery.signal` (not standby.signal; no recovery.conf).
6. **Start:** `pg_ctl -D $NEW -l recovery.log start`. The log says
   `recovery stopping at restore point "{restore_point}"` and then `pausing at the end of recovery`.
   `recovery ended before configured recovery target was reached` means the archive lacks
   WAL or the backup is too new: go back to step 2.
7. **Check before promoting:** `SELECT pg_is_in_recovery(), pg_is_wal_replay_paused(), pg_last_wal_replay_lsn();`
   gives `t`, `t`, `{lsn}`. Compare the schema with the pre-batch one
   (`pg_dump --schema-only`; the batch's constraints and indexes are absent) and spot-check the data.
8. **Promote:** `SELECT pg_wal_replay_resume();` then `SELECT pg_is_in_recovery();` gives `f`
   (recovery.signal is gone, a new timeline began). Remove the recovery settings from
   `postgresql.auto.conf`, turn archiving back on and take a new base backup.
9. **Repoint the app** (connection string, DNS or pooler) to the new server; keep the old one
   stopped until the data written after the restore point has been dealt with.
"""


def _indent(text: str, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" for line in text.splitlines())
