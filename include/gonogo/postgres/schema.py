"""The live schema as one line per object, read from the catalog, and its comparison.

Used to prove that a rollback leaves the schema exactly as it was, and that production
still has the schema the batch was rehearsed against.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from gonogo.results import GateResult, Verdict
from gonogo.postgres.sqlfile import query

# (kind, object, definition), e.g. ("constraint", 'public."Recipe".recipe_category_mapped', "CHECK ...")
Line = tuple[str, str, str]


@dataclass(frozen=True)
class Schema:
    lines: tuple[Line, ...]

    def as_dict(self) -> dict[tuple[str, str], str]:
        return {(kind, obj): definition for kind, obj, definition in self.lines}

    def to_json(self) -> list[list[str]]:
        return [list(line) for line in self.lines]

    @classmethod
    def from_json(cls, data) -> Schema:
        return cls(tuple(tuple(item) for item in data))


HISTORY = ("gonogo.",)  # gonogo's own bookkeeping schema: never the app's


def read_schema(conn: psycopg.Connection, leave_out: tuple[str, ...] = HISTORY) -> Schema:
    """Every object of the app's schema. leave_out: migration history that is not the app's,
    as "schema." (a whole schema) or "schema.table" (Batch.history_objects)."""
    schemas = [item[:-1] for item in leave_out if item.endswith(".")]
    tables = [item for item in leave_out if not item.endswith(".")]
    rows = conn.execute(query("catalog.sql", "schema_objects"), {"schemas": schemas, "tables": tables}).fetchall()
    return Schema(tuple((kind, obj, definition) for kind, obj, definition in rows))


def object_name(obj: str) -> str:
    """The object's own name from a catalog line's object: 'public."Recipe".c' -> 'c',
    'public.f(integer)' -> 'f'."""
    last = obj.split("(", 1)[0].rsplit(".", 1)[-1]
    return last.strip('"')


def diff(expected: Schema, actual: Schema, ignore: frozenset[str] = frozenset()) -> list[str]:
    """Readable differences: `- x` missing from actual, `+ x` extra, `~ x` changed.
    Objects named in `ignore` (created by a step that is in flux) are left out."""
    want, have = expected.as_dict(), actual.as_dict()
    out = []
    for key in sorted(want.keys() | have.keys()):
        kind, obj = key
        if object_name(obj) in ignore:
            continue
        if key not in have:
            out.append(f"- {kind} {obj}: {want[key]}")
        elif key not in want:
            out.append(f"+ {kind} {obj}: {have[key]}")
        elif want[key] != have[key]:
            out.append(f"~ {kind} {obj}: {want[key]}  →  {have[key]}")
    return out


def compare(expected: Schema, actual: Schema, *, gate: str, title: str, phase: str,
            subject: str = "", expected_label: str = "the pre-batch schema",
            ignore: frozenset[str] = frozenset()) -> GateResult:
    """ignore: names of objects created by steps a crash or a failure left half-done, which
    may or may not exist; everything else must match exactly."""
    lines = diff(expected, actual, ignore)
    return GateResult(
        gate=gate, title=title, phase=phase, subject=subject,
        verdict=Verdict.PASS if not lines else Verdict.FAIL,
        value=f"{len(lines)} differences over {len(expected.lines)} objects",
        threshold="0 differences",
        message=(f"the schema equals {expected_label}" if not lines
                 else f"the schema differs from {expected_label} in {len(lines)} objects")
                + (f" (not compared: {', '.join(sorted(ignore))}, left by a step in flux)" if ignore else ""),
        hint="" if not lines else "read the diff; restore the missing objects or drop the extra ones",
        details=[{"diff": line} for line in lines[:200]],
    )
