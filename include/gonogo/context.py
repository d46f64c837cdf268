"""What every phase of a rollout works with: the batch, the two databases, the run, and how
its sessions are guarded. The Airflow glue builds one per task from the run's params and
connections; tests and scripts build one directly."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gonogo.batch import Batch
from gonogo.postgres.retry import RetryPolicy
from gonogo.postgres.target import SessionGuards, Target


@dataclass
class RunContext:
    batch: Batch
    production: Target
    staging: Target
    run_id: str
    app: str                      # application_name after "gonogo/": <run key>/<task> (rollout_lock.run_key)
    folder: Path                  # the run's artifacts (0700)
    guards: SessionGuards = field(default_factory=SessionGuards)
    policy: RetryPolicy = field(default_factory=RetryPolicy)

    def session(self, which: str):
        """A guarded session on "production" or "staging", named after this run and task."""
        return getattr(self, which).connect(self.app, self.guards)
