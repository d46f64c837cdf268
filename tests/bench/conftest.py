"""The DAG fixtures of tests/dags (rollout_dag, rollout), reused by the orchestration benchmark.

tests/dags is not a package, so its conftest is loaded from its file (registered as a module
first: its dataclasses look their module up) and its fixtures are re-exported here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("dags_conftest", Path(__file__).parents[1] / "dags" / "conftest.py")
_dags_conftest = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_dags_conftest)

rollout_dag = _dags_conftest.rollout_dag
batch_dag = _dags_conftest.batch_dag
rollout = _dags_conftest.rollout
