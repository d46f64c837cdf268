"""The embedded local default: two throwaway clusters standing in for production and
staging, the sample app loaded into production, and the Airflow settings that point the
DAG at them. Used by `make demo` and `make ui`; `make stop` stops it all.

Clusters live outside the checkout (the server's OS user may not be able to enter it),
Airflow's home and the artifacts inside it, under .gonogo/ (git-ignored). GONOGO_LOCAL_DIR and
GONOGO_STATE_DIR move them (the browser test runs its own stack beside yours).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from psycopg import sql

import sample_app
from gonogo_local.cluster import LocalCluster, stop_all
from gonogo.postgres.target import Target
from gonogo_airflow.local import PROJECT_DIR, airflow_env, connection_json, slack_connection_json
from sample_app.workload import run_workload

APP_DB, STAGING_DB = sample_app.DATABASE, f"{sample_app.DATABASE}_staging"
SLACK_TOKEN = "xoxb-gonogo-local"


@dataclass
class LocalStack:
    base: Path   # the clusters
    state: Path  # Airflow home, artifacts

    @classmethod
    def default(cls) -> LocalStack:
        tag = hashlib.sha256(str(PROJECT_DIR).encode()).hexdigest()[:8]
        base = Path(os.environ.get("GONOGO_LOCAL_DIR", f"/tmp/gonogo-local-{os.getuid()}-{tag}"))
        return cls(base=base, state=Path(os.environ.get("GONOGO_STATE_DIR", PROJECT_DIR / ".gonogo")))

    @property
    def artifacts(self) -> Path:
        return self.state / "artifacts"

    def start(self) -> tuple[LocalCluster, LocalCluster]:
        self.base.mkdir(parents=True, exist_ok=True)
        self.base.chmod(0o755)
        self.state.mkdir(exist_ok=True)
        prod = LocalCluster.ensure(self.base, "production", archive=True)
        staging = LocalCluster.ensure(self.base, "staging")
        return prod, staging

    def stop(self) -> list[str]:
        return stop_all(self.base) if self.base.is_dir() else []

    def targets(self) -> tuple[Target, Target]:
        prod, staging = (LocalCluster.load(self.base, name) for name in ("production", "staging"))
        if prod is None or staging is None:
            raise RuntimeError(f"no local clusters under {self.base}: run `make demo` first")
        return prod.target(APP_DB, name="production"), staging.target(STAGING_DB, name="staging")

    def load_app(self, scale: float = 1.0, workload_seconds: float = 10.0, defects=()):
        """A fresh sample app database on production, then its workload, so that
        pg_stat_statements holds a real baseline."""
        production, _ = self.targets()
        with production.with_dbname("postgres").connect("localstack", guards=None) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(APP_DB)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(APP_DB)))
        counts = sample_app.load(production, scale=scale, defects=defects)
        with production.connect("localstack", guards=None) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("SELECT pg_stat_statements_reset()")
        stats = run_workload(production, seconds=workload_seconds, clients=2, scale=scale)
        return counts, stats

    def airflow_env(self, slack_api_url: str) -> dict[str, str]:
        production, staging = self.targets()
        return airflow_env(self.state / "airflow", artifacts=self.artifacts, connections={
            "gonogo_production": connection_json(production),
            "gonogo_staging": connection_json(staging),
            "gonogo_slack": slack_connection_json(SLACK_TOKEN, slack_api_url),
        })


@dataclass
class NamedDatabases:
    """Your own production and staging, named by GONOGO_PRODUCTION_URL and GONOGO_STAGING_URL
    (the URLs stay in the environment and in Airflow's connections, never on a command line);
    Airflow's home and the artifacts under GONOGO_STATE_DIR (default .gonogo/)."""

    production_url: str
    staging_url: str
    state: Path

    @classmethod
    def from_env(cls) -> NamedDatabases | None:
        production, staging = os.environ.get("GONOGO_PRODUCTION_URL"), os.environ.get("GONOGO_STAGING_URL")
        if not production:
            return None
        if not staging:
            raise RuntimeError("GONOGO_PRODUCTION_URL is set but GONOGO_STAGING_URL is not: name a staging database "
                               "gonogo may drop and recreate (never production)")
        return cls(production, staging, Path(os.environ.get("GONOGO_STATE_DIR", PROJECT_DIR / ".gonogo")))

    @property
    def artifacts(self) -> Path:
        return self.state / "artifacts"

    def targets(self) -> tuple[Target, Target]:
        return Target.from_url(self.production_url, "production"), Target.from_url(self.staging_url, "staging")

    def airflow_env(self, slack_api_url: str) -> dict[str, str]:
        production, staging = self.targets()
        self.state.mkdir(parents=True, exist_ok=True)
        return airflow_env(self.state / "airflow", artifacts=self.artifacts, connections={
            "gonogo_production": connection_json(production),
            "gonogo_staging": connection_json(staging),
            "gonogo_slack": slack_connection_json(SLACK_TOKEN, slack_api_url),
        })
