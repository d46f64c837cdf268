"""Real PostgreSQL for every test: two throwaway clusters per session, made with initdb.

`production` archives WAL like the real thing; `staging` is a plain cluster. Both are
stopped and removed at the end of the session, also when tests fail; clusters that a
killed earlier session left behind are stopped at the start of the next one.
"""

from __future__ import annotations

import glob
import itertools
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from gonogo.cluster import LocalCluster, make_base_dir, stop_all

_PREFIX = "gonogo-test-"
_counter = itertools.count()


def _sweep_leftovers() -> None:
    for base in glob.glob(f"{tempfile.gettempdir()}/{_PREFIX}*"):
        stop_all(Path(base))
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster_base():
    _sweep_leftovers()
    base = make_base_dir(_PREFIX)
    yield base
    stop_all(base)
    shutil.rmtree(base, ignore_errors=True)


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


def create_database(cluster: LocalCluster, prefix: str, name: str | None = None):
    """A new, empty database on the cluster; returns its Target."""
    dbname = f"{prefix}_{next(_counter)}"
    with cluster.target().connect("tests", guards=None) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    return cluster.target(dbname, name=name or cluster.name)


def drop_database(cluster: LocalCluster, dbname: str) -> None:
    with cluster.target().connect("tests", guards=None) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))


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
