"""Seed 1: staging runs the same PostgreSQL version as production."""

from __future__ import annotations

import psycopg

from gonogo.results import GateResult, Verdict
from gonogo.postgres.sqlfile import query


def server_versions(production: psycopg.Connection, staging: psycopg.Connection) -> GateResult:
    prod = production.execute(query("catalog.sql", "server_version")).fetchone()
    stag = staging.execute(query("catalog.sql", "server_version")).fetchone()
    verdict = judge(prod[0], stag[0])
    return GateResult(
        gate="server_versions", title="Staging version matches production", phase="preflight",
        verdict=verdict, value=f"staging {stag[1]} ({stag[0]})", threshold=f"production {prod[1]} ({prod[0]})",
        message={Verdict.PASS: "staging runs exactly production's server version",
                 Verdict.WARN: "same major version, different minor release: plans and locks match, "
                               "bug fixes may not",
                 Verdict.FAIL: "different major versions: the rehearsal proves nothing about production"}[verdict],
        hint="" if verdict is Verdict.PASS else "run staging on production's exact server version",
        details=[{"production": prod[2], "staging": stag[2]}])


def judge(production_num: int, staging_num: int) -> Verdict:
    """Equal server_version_num: PASS; same major, another minor release: WARN; else FAIL."""
    if production_num == staging_num:
        return Verdict.PASS
    return Verdict.WARN if production_num // 10000 == staging_num // 10000 else Verdict.FAIL
