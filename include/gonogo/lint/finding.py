"""One problem the lint found in one statement: what it is, the lock, and the fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gonogo.postgres import locks

ERROR = "error"
WARNING = "warning"
NOTE = "note"  # robustness (re-runnable statements): summarised, never hides a risk
_RANK = {NOTE: 0, WARNING: 1, ERROR: 2}


@dataclass(frozen=True)
class Finding:
    rule: str       # e.g. "set-not-null" (gonogo) or "require-concurrent-index-creation" (squawk)
    source: str     # "gonogo" | "squawk"
    level: str      # "error" | "warning"
    file: str       # the file, relative to the batch folder when linted as part of a batch
    line: int       # 1-based line of the statement (inside a DO block: of the statement in it)
    statement: str  # the statement, shortened
    lock: str       # the table lock mode held while it runs, e.g. "ACCESS EXCLUSIVE"; "" for none
    message: str    # the risk
    help: str       # the fix
    problem: str = ""                 # what goes wrong; findings of one problem on one statement are one
    references: tuple[str, ...] = ()  # other tools' rule ids that found the same problem (squawk's)
    other_locks: tuple[tuple[str, str], ...] = ()  # (table, mode) it locks besides its own (a foreign key's other end)

    @property
    def rank(self) -> int:
        return _RANK[self.level]

    @property
    def blocks(self) -> str:
        return locks.blocks(self.lock) if self.lock else "nothing: it takes no lock on a table"

    def to_detail(self) -> dict[str, Any]:
        return {"rule": self.rule, "source": self.source, "level": self.level, "file": self.file,
                "line": self.line, "statement": self.statement, "lock": self.lock,
                "blocks": self.blocks, "message": self.message, "help": self.help,
                "problem": self.key_problem, "references": list(self.references),
                "other_locks": dict(self.other_locks)}

    @property
    def key_problem(self) -> str:
        """The problem this finding is about: its own, else its rule's."""
        return self.problem or self.rule

    def where(self) -> str:
        return f"{self.file} line {self.line}"
