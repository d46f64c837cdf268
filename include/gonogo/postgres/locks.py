"""PostgreSQL's table-level lock modes and which ones conflict, as data.

From the PostgreSQL 15 documentation, "13.3.1. Table-Level Locks" (Table 13.2, Conflicting
Lock Modes). Two sessions can hold locks on one table at once only if their modes do not
conflict; a session asking for a conflicting mode waits, and every later request queues
behind it. The app's own statements take ACCESS SHARE (SELECT), ROW SHARE (SELECT ... FOR
UPDATE/SHARE) and ROW EXCLUSIVE (INSERT, UPDATE, DELETE), so a mode blocks the app when it
conflicts with one of those.

Modes are spelled the way the docs spell them ("ACCESS EXCLUSIVE"); `normalize` also takes
pg_locks' spelling ("AccessExclusiveLock").
"""

from __future__ import annotations

import re

# Weakest to strongest.
LOCK_MODES: tuple[str, ...] = (
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
)

# Table 13.2: the modes each mode conflicts with (the matrix is symmetric).
_CONFLICTS: dict[str, frozenset[str]] = {
    "ACCESS SHARE": frozenset({"ACCESS EXCLUSIVE"}),
    "ROW SHARE": frozenset({"EXCLUSIVE", "ACCESS EXCLUSIVE"}),
    "ROW EXCLUSIVE": frozenset({"SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"}),
    "SHARE UPDATE EXCLUSIVE": frozenset({"SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE",
                                         "EXCLUSIVE", "ACCESS EXCLUSIVE"}),
    "SHARE": frozenset({"ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE ROW EXCLUSIVE",
                        "EXCLUSIVE", "ACCESS EXCLUSIVE"}),
    "SHARE ROW EXCLUSIVE": frozenset({"ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE",
                                      "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"}),
    "EXCLUSIVE": frozenset({"ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE",
                            "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"}),
    "ACCESS EXCLUSIVE": frozenset(LOCK_MODES),
}

# What a mode held by a migration makes the app (and other sessions) wait for.
_BLOCKS: dict[str, str] = {
    "ACCESS SHARE": "only ACCESS EXCLUSIVE schema changes (DROP, most ALTER TABLE), not reads or writes",
    "ROW SHARE": "EXCLUSIVE and ACCESS EXCLUSIVE locks (most ALTER TABLE), not reads or writes",
    "ROW EXCLUSIVE": "non-concurrent index builds and stronger schema changes, not reads or writes",
    "SHARE UPDATE EXCLUSIVE": "other schema changes and VACUUM, not reads or writes",
    "SHARE": "writes (INSERT/UPDATE/DELETE) and schema changes, not reads",
    "SHARE ROW EXCLUSIVE": "writes (INSERT/UPDATE/DELETE) and schema changes, not reads",
    "EXCLUSIVE": "writes and SELECT ... FOR UPDATE/SHARE; only plain reads go on",
    "ACCESS EXCLUSIVE": "reads and writes: every query on the table waits",
}

# The locks the app itself takes: reads (ACCESS SHARE) and writes (ROW EXCLUSIVE).
_APP_MODES = frozenset({"ACCESS SHARE", "ROW EXCLUSIVE"})


def normalize(mode: str) -> str:
    """'AccessExclusiveLock', 'access exclusive', 'ACCESS_EXCLUSIVE' -> 'ACCESS EXCLUSIVE'."""
    text = str(mode).strip()
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text)  # CamelCase (pg_locks) -> words
    text = " ".join(text.replace("_", " ").upper().split())
    if text.endswith(" LOCK"):
        text = text[: -len(" LOCK")]
    if text not in _CONFLICTS:
        raise ValueError(f"{mode!r} is not a table-level lock mode; expected one of "
                         f"{', '.join(LOCK_MODES)} (or pg_locks' spelling, e.g. AccessExclusiveLock)")
    return text


def conflicts(mode: str) -> set[str]:
    """The modes that cannot be held on the same table while `mode` is held."""
    return set(_CONFLICTS[normalize(mode)])


def blocks(mode: str) -> str:
    """In plain words, what waits while `mode` is held on a table."""
    return _BLOCKS[normalize(mode)]


def blocks_app(mode: str) -> bool:
    """True when `mode` makes the app's reads or writes wait (SHARE and stronger)."""
    return bool(_CONFLICTS[normalize(mode)] & _APP_MODES)


def strongest(modes) -> str | None:
    """The strongest of some modes (None when there are none)."""
    ranked = [LOCK_MODES.index(normalize(m)) for m in modes if m]
    return LOCK_MODES[max(ranked)] if ranked else None
