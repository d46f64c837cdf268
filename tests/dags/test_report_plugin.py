"""The gonogo plugin in Airflow's own API server (create_app, in-process): the run's report is
served under /gonogo behind Airflow's auth, and the UI gets a "Go/No-Go report" tab."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gonogo import artifacts
from gonogo.reporting.report import RunInfo, write_reports
from gonogo.results import GateResult, Verdict

DAG_ID, RUN_ID = "gonogo_rollout", "manual__2026-11-24T07:00:33.006090+00:00"
RESULT = GateResult(gate="orphan_integrity", title="Orphans = 0", verdict=Verdict.FAIL, value="5 orphaned rows",
                    threshold="0 rows", message="RecipeItem.recipeId -> Recipe.id: 5 orphans", phase="preflight")


@pytest.fixture(scope="module", autouse=True)
def metadata_db():
    from gonogo_airflow import local
    local.migrate_metadata_db()


def api(monkeypatch, tmp_path, *, all_admins: bool = True) -> TestClient:
    from airflow.api_fastapi.app import create_app

    monkeypatch.setenv("GONOGO_ARTIFACTS_DIR", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", str(all_admins))
    return TestClient(create_app("core"))


def test_the_run_report_is_served_and_a_missing_one_says_when_it_comes(monkeypatch, tmp_path):
    client = api(monkeypatch, tmp_path)
    missing = client.get(f"/gonogo/reports/{DAG_ID}/{RUN_ID}")
    assert missing.status_code == 404 and "decide.evaluate_gates" in missing.text

    from gonogo.batch import load_batch
    info = RunInfo(dag_id=DAG_ID, run_id=RUN_ID, batch_id="20250115_recipe_fixes", batch_title="Recipe fixes")
    folder = artifacts.run_dir(DAG_ID, RUN_ID, tmp_path)
    write_reports(folder, info, load_batch("20250115_recipe_fixes"), [RESULT])

    served = client.get(f"/gonogo/reports/{DAG_ID}/{RUN_ID}")
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/html")
    assert served.text == (folder / "report.html").read_text()
    assert RESULT.value in served.text


def test_a_running_watch_window_shows_its_time_left_above_the_report(monkeypatch, tmp_path):
    """What the watch task and its trigger write beside the report, the tab shows, with the time
    left counted when the page is opened; once the window ended, the report alone."""
    from datetime import datetime, timedelta, timezone

    from gonogo.watching import watch_status
    from gonogo.batch import load_batch

    client = api(monkeypatch, tmp_path)
    info = RunInfo(dag_id=DAG_ID, run_id=RUN_ID, batch_id="20250115_recipe_fixes", batch_title="Recipe fixes")
    folder = artifacts.run_dir(DAG_ID, RUN_ID, tmp_path)
    write_reports(folder, info, load_batch("20250115_recipe_fixes"), [RESULT])
    started = datetime.now(timezone.utc) - timedelta(hours=12)
    deadline = started + timedelta(hours=48)
    watch_status.write(folder, started=started.isoformat(), deadline=deadline.isoformat(),
                       line="watch: 12.0 h of 48.0 h, 36.0 h left, status running, 42 metrics")

    shown = client.get(f"/gonogo/reports/{DAG_ID}/{RUN_ID}").text
    strip = shown.split('<div id="watch-status"', 1)[1].split("</div>", 1)[0]
    assert "Watch window running: 12.0 h of 48.0 h, 36.0 h left" in strip, strip
    assert f"(ends {deadline:%Y-%m-%d %H:%M} UTC)" in strip and "42 metrics" in strip
    assert RESULT.value in shown  # the report itself below it

    watch_status.write(folder, started=started.isoformat(), deadline=deadline.isoformat(), line="ended: passed",
                       ended=True)
    assert client.get(f"/gonogo/reports/{DAG_ID}/{RUN_ID}").text == (folder / "report.html").read_text()


def test_the_report_is_not_served_without_a_login(monkeypatch, tmp_path):
    client = api(monkeypatch, tmp_path, all_admins=False)
    assert client.get(f"/gonogo/reports/{DAG_ID}/{RUN_ID}").status_code in (401, 403)


@pytest.mark.parametrize("dag_id, run_id", [("..", "x"), (".", ".."), ("a", "../../etc/passwd")])
def test_a_run_path_never_leaves_the_artifacts_root(tmp_path, dag_id, run_id):
    path = artifacts.run_path(dag_id, run_id, tmp_path).resolve()
    assert path.is_relative_to(tmp_path.resolve()) and path != tmp_path.resolve()


def test_each_run_id_gets_its_own_private_folder_whatever_the_umask(tmp_path):
    """Run ids that only differ where the safe name replaces characters stay apart; the root and
    the DAG's folder made on the way are 0700 too (mkdir's mode applies to the last one only)."""
    import os
    import stat

    names = ["manual__2026-12-06T20:10:41+00:00", "manual__2026-12-06T20_10_41_00_00", "a:b", "a_b"]
    assert len({artifacts.run_path(DAG_ID, name, tmp_path) for name in names}) == 4
    assert artifacts.run_path(DAG_ID, "a_b", tmp_path).name == "a_b"  # a safe name stays as it is
    old = os.umask(0o022)
    try:
        folder = artifacts.run_dir(DAG_ID, "a:b", tmp_path / "artifacts")
    finally:
        os.umask(old)
    for made in (folder, folder.parent, tmp_path / "artifacts"):
        assert stat.S_IMODE(made.stat().st_mode) == 0o700, made


def test_the_ui_gets_a_report_tab_on_every_run(monkeypatch, tmp_path):
    plugins = api(monkeypatch, tmp_path).get("/api/v2/plugins").json()["plugins"]
    [gonogo] = [p for p in plugins if p["name"] == "gonogo"]
    [view] = gonogo["external_views"]
    assert view["destination"] == "dag_run" and view["name"] == "Go/No-Go report"
    assert view["href"] == "gonogo/reports/{DAG_ID}/{RUN_ID}"
