"""The app's top queries, as a batch declares them: a file of named queries (`-- name:`)
with psycopg placeholders, and a YAML file of representative parameters for each; or as
gonogo.authoring.discover finds them in production's pg_stat_statements.

gonogo runs them itself: EXPLAIN before and after each migration, and as the workload that
runs while a migration's locks are traced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


from gonogo.errors import BatchError
from gonogo.authoring.limits import read_yaml
from gonogo.postgres.sqlfile import load_named, writes


@dataclass(frozen=True)
class Query:
    """One top query. params is the parameter set EXPLAIN uses; param_sets, when given, are
    several (params among them, first) that the workload takes in turn, so that it does not
    hit one row only. rate: calls per second measured on production, the pace the workload
    keeps (None: as fast as the workload runs). writes: an INSERT, UPDATE or DELETE, which the
    workload rolls back, so that row counts on staging stay the data's."""

    name: str
    sql: str
    params: dict = field(default_factory=dict)
    rate: float | None = None
    writes: bool = False
    param_sets: tuple[dict, ...] = ()

    def to_dict(self) -> dict:
        """JSON for XCom: a value JSON has no type for (a uuid, a date, a Decimal) goes as text,
        which the server reads as the type the placeholder needs (psycopg sends str untyped)."""
        return {"name": self.name, "sql": self.sql, "params": _plain(self.params), "rate": self.rate,
                "writes": self.writes, "param_sets": [_plain(p) for p in self.param_sets]}

    @classmethod
    def from_dict(cls, data: dict) -> Query:
        return cls(**{**data, "param_sets": tuple(data.get("param_sets", ()))})


def _plain(params: dict) -> dict:
    return {k: v if v is None or isinstance(v, (bool, int, float, str)) else str(v) for k, v in params.items()}


def load_queries(sql_path: Path, params_path: Path | None) -> tuple[Query, ...]:
    try:
        named = load_named(sql_path)
    except (OSError, ValueError) as exc:
        raise BatchError(f"top_queries: {exc}") from None
    params = {}
    if params_path is not None:
        try:
            params = read_yaml(Path(params_path), "query_params file") or {}
        except OSError as exc:
            raise BatchError(f"query_params: {params_path}: {exc}") from None
    missing = [name for name, sql in named.items() if "%(" in sql and name not in params]
    unknown = sorted(set(params) - set(named))
    if missing or unknown:
        raise BatchError(f"query_params {params_path}: "
                         + (f"no parameters for {', '.join(missing)}" if missing else "")
                         + ("; " if missing and unknown else "")
                         + (f"parameters for unknown queries {', '.join(unknown)}" if unknown else ""))
    return tuple(Query(name, sql, dict(params.get(name) or {}), writes=writes(sql)) for name, sql in named.items())
