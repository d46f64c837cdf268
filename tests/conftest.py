"""Real PostgreSQL for every test: two throwaway clusters per session, made with initdb.

`production` archives WAL like the real thing; `staging` is a plain cluster. Both are
stopped and removed at the end of the session, also when tests fail; clusters that a
killed earlier session left behind are stopped at the start of the next one.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from gonogo_local.cluster import LocalCluster, make_base_dir, stop_all
from gonogo_airflow.local import airflow_env
from helpers import create_database, drop_database
from reaper import MARK, alive

# Airflow reads its settings when first imported: the session gets its own home and
# metadata database before any test module imports it.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="gonogo-airflow-test-"))
# pytest-xdist's controller imports this file too and runs no session fixture: remove at exit
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ.update(airflow_env(_AIRFLOW_HOME, connections={}))

_PREFIX = "gonogo-test-"


def pytest_configure(config):
    """A session that runs tests (an xdist worker, or pytest without -n) marks every process it
    starts and leaves a watchdog that stops them if the session dies without its teardown
    (pytest-timeout ends a hung worker with os._exit): see tests/reaper.py."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return  # xdist's controller: it runs no test
    os.environ[MARK] = str(os.getpid())
    subprocess.Popen([sys.executable, str(Path(__file__).with_name("reaper.py")), str(os.getpid())],
                     env={k: v for k, v in os.environ.items() if k != MARK}, start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)



def _sweep_leftovers() -> None:
    """Stop and remove clusters of earlier sessions whose pytest process is gone."""
    for base in glob.glob(f"{tempfile.gettempdir()}/{_PREFIX}*"):
        owner = Path(base) / "owner.pid"
        if owner.is_file() and alive(int(owner.read_text() or 0)):
            continue  # another test session, still running
        stop_all(Path(base))
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster_base():
    _sweep_leftovers()
    base = make_base_dir(_PREFIX)
    (base / "owner.pid").write_text(str(os.getpid()))
    yield base
    stop_all(base)
    shutil.rmtree(base, ignore_errors=True)
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def prod_cluster(cluster_base) -> LocalCluster:
    cluster = LocalCluster.create(cluster_base, "production", archive=True)
    cluster.start()
    yield cluster
    cluster.remove()


@pytest.fixture(scope="session")
def staging_cluster(cluster_base) -> LocalCluster:
    cluster = LocalCluster.create(cluster_base, "staging")
    cluster.start()
    yield cluster
    cluster.remove()


@pytest.fixture
def prod_db(prod_cluster):
    """An empty database on the production cluster, dropped after the test."""
    target = create_database(prod_cluster, "prod", name="production")
    yield target
    drop_database(prod_cluster, target.dbname)


@pytest.fixture
def staging_db(staging_cluster):
    target = create_database(staging_cluster, "staging", name="staging")
    yield target
    drop_database(staging_cluster, target.dbname)


@pytest.fixture
def prod_conn(prod_db) -> psycopg.Connection:
    with prod_db.connect("tests", guards=None) as conn:
        yield conn


@pytest.fixture
def make_database(prod_cluster, staging_cluster):
    """make_database("production" | "staging", prefix) -> Target of a new empty database;
    all of them are dropped after the test."""
    made = []

    def make(which: str, prefix: str = "db"):
        cluster = prod_cluster if which == "production" else staging_cluster
        target = create_database(cluster, prefix, name=which)
        made.append((cluster, target.dbname))
        return target

    yield make
    for cluster, dbname in made:
        drop_database(cluster, dbname)
