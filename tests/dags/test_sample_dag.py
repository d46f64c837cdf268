"""The gonogo_sample DAG with Airflow's own dag.test(): each production connection sampled into
its own gonogo schema; the DAG starts paused and runs on a schedule."""

from __future__ import annotations

from gonogo.watching import samples
from gonogo_airflow import local
from helpers import states


def an_app(target) -> None:
    with target.connect("tests/app", guards=None) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("CREATE TABLE account (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO account SELECT g, 'a' || g FROM generate_series(1, 100) g")
        for i in range(20):
            conn.execute("SELECT name FROM account WHERE id = %s", [i])


def test_each_production_database_is_sampled_into_its_gonogo_schema(rollout_dag, make_database, monkeypatch):
    dag = local.load_dag("gonogo_sample")
    assert dag.is_paused_upon_creation and dag.timetable.expression == "*/15 * * * *"
    databases = {"gonogo_production": make_database("production", "sampled"),
                 "gonogo_production_eu": make_database("production", "sampled_eu")}
    for conn_id, target in databases.items():
        an_app(target)
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", local.connection_json(target))

    dagrun = dag.test(run_conf={"production_conn_ids": list(databases)})

    assert str(dagrun.state) == "success", states(dagrun)
    for target in databases.values():
        with target.connect("tests") as conn:
            kept, _, _ = samples.count(conn)
            statements = conn.execute("SELECT count(*) FROM gonogo.sample_statements").fetchone()[0]
        assert kept == 1 and statements >= 1  # the app's lookup, at least
