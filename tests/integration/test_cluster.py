"""The local PostgreSQL harness: real clusters made with initdb, as root and as an ordinary user."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gonogo.errors import SetupError
from gonogo.postgres.pgbin import find_bindir
from gonogo_local.cluster import LocalCluster, make_base_dir, runuser

PROJECT = Path(__file__).resolve().parents[2]


def settings(cluster: LocalCluster, *names: str) -> list[str]:
    with cluster.target().connect("tests", guards=None) as conn:
        return [conn.execute("SELECT current_setting(%s)", [n]).fetchone()[0] for n in names]


def test_production_stand_in_archives_wal_and_keeps_statistics(prod_cluster):
    preload, io_timing, wal_level, archive_mode, listen = settings(
        prod_cluster, "shared_preload_libraries", "track_io_timing", "wal_level", "archive_mode", "listen_addresses")
    assert "pg_stat_statements" in preload
    assert (io_timing, wal_level, archive_mode, listen) == ("on", "replica", "on", "127.0.0.1")

    with prod_cluster.target().connect("tests", guards=None) as conn:
        walfile = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0]
        conn.execute("CREATE TABLE IF NOT EXISTS wal_probe (x int); INSERT INTO wal_probe VALUES (1)")
        conn.execute("SELECT pg_switch_wal()")
    deadline = time.monotonic() + 30
    while not (prod_cluster.archive_dir / walfile).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (prod_cluster.archive_dir / walfile).is_file()


def test_staging_stand_in_keeps_statistics_without_archiving(staging_cluster):
    preload, io_timing, archive_mode = settings(
        staging_cluster, "shared_preload_libraries", "track_io_timing", "archive_mode")
    assert "pg_stat_statements" in preload and io_timing == "on" and archive_mode == "off"


def test_password_is_required(prod_cluster):
    wrong = prod_cluster.target().__class__(**{**prod_cluster.target().__dict__, "password": "wrong"})
    with pytest.raises(Exception) as info:
        wrong.connect("tests", guards=None)
    assert "password authentication failed" in str(info.value)


def test_stop_start_keeps_data_and_port(cluster_base):
    cluster = LocalCluster.create(cluster_base, "restart")
    try:
        cluster.start()
        with cluster.target().connect("tests", guards=None) as conn:
            conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
        cluster.stop()
        assert not cluster.is_running()
        again = LocalCluster.ensure(cluster_base, "restart")
        assert again.port == cluster.port and again.is_running()
        with again.target().connect("tests", guards=None) as conn:
            assert conn.execute("SELECT x FROM kept").fetchone()[0] == 42
    finally:
        cluster.remove()
    assert not cluster.root.exists()


def test_missing_server_binaries_say_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither initdb nor pg_config on PATH
    with pytest.raises(SetupError) as info:
        find_bindir.__wrapped__(layouts=(str(tmp_path / "nowhere" / "*" / "bin"),))
    assert "initdb" in str(info.value)
    assert "apt-get install postgresql-15 postgresql-contrib-15" in str(info.value)


@pytest.mark.skipif(os.geteuid() != 0, reason="as an ordinary user the whole suite already runs this path")
def test_works_for_an_ordinary_user():
    """As root, the session's clusters run as `postgres`; here an unprivileged user (nobody) makes,
    starts, uses and removes its own cluster with the same harness."""
    base = make_base_dir("gonogo-test-nobody-")
    os.chown(base, 65534, 65534)
    script = textwrap.dedent(f"""
        import json, subprocess
        from pathlib import Path
        from gonogo.postgres.pgbin import find_bindir
        from gonogo_local.cluster import LocalCluster
        c = LocalCluster.create(Path({str(base)!r}), "mine")
        c.start()
        out = subprocess.run([str(find_bindir() / "psql"), "-h", "127.0.0.1", "-p", str(c.port), "-U", "postgres",
                              "-d", "postgres", "-Atc", "SELECT current_setting('shared_preload_libraries')"],
                             env={{"PGPASSWORD": c.password}}, capture_output=True, text=True)
        owner = Path(c.data_dir).stat().st_uid
        c.remove()
        print(json.dumps({{"psql": out.stdout.strip(), "err": out.stderr, "owner": owner,
                           "left": Path(c.root).exists()}}))
    """)
    # the checkout may sit under a folder nobody cannot enter: the harness goes where it can
    library = base / "lib"
    for package in ("gonogo", "gonogo_local"):
        shutil.copytree(PROJECT / "include" / package, library / package, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(["chmod", "-R", "a+rX", str(library)], check=True)
    try:
        out = subprocess.run([runuser(), "-u", "nobody", "--", "/usr/bin/python3", "-c", script],
                             env={"PYTHONPATH": str(library), "PATH": "/usr/bin:/bin"},
                             capture_output=True, text=True, cwd="/", timeout=120)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["psql"] == "pg_stat_statements", result
        assert result["owner"] == 65534 and result["left"] is False
    finally:
        subprocess.run(["rm", "-rf", str(base)])


def test_a_session_ended_by_its_timeout_leaves_nothing_running(tmp_path):
    """pytest-timeout ends a hung session with os._exit, so no teardown runs: the watchdog the
    session left behind stops what it had started (a server here, a stand-in for a cluster)."""
    record = tmp_path / "child.pid"
    hung = tmp_path / "test_hangs.py"
    hung.write_text(textwrap.dedent(f"""
        import subprocess, time
        def test_hangs():
            child = subprocess.Popen(["sleep", "600"], start_new_session=True)  # a daemon, as pg_ctl's server is
            open({str(record)!r}, "w").write(str(child.pid))
            time.sleep(600)
    """))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
                          "-o", "timeout=3", "--rootdir", str(tmp_path), str(hung)],
                         env={**os.environ, "PYTHONPATH": str(PROJECT / "tests")},
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert "Timeout" in out.stdout + out.stderr, out.stdout + out.stderr
    child = int(record.read_text())
    deadline = time.monotonic() + 60
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not Path(f"/proc/{child}").exists(), "the hung session's server is still running"


def test_nothing_left_running_after_a_failing_test(tmp_path):
    """A test session whose test fails still stops and removes its clusters."""
    record = tmp_path / "clusters.json"
    failing = tmp_path / "test_fails.py"
    failing.write_text(textwrap.dedent(f"""
        import json
        def test_fails(prod_cluster, staging_cluster):
            json.dump([str(prod_cluster.data_dir), str(staging_cluster.data_dir)], open({str(record)!r}, "w"))
            assert False, "this test fails on purpose"
    """))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
                          "--rootdir", str(tmp_path), str(failing)],
                         env={**os.environ, "PYTHONPATH": str(PROJECT / "tests")},
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "this test fails on purpose" in out.stdout
    data_dirs = json.loads(record.read_text())
    assert len(data_dirs) == 2
    pg_ctl = find_bindir() / "pg_ctl"
    for data_dir in data_dirs:
        assert not Path(data_dir).exists()
        # and no server process is serving that data directory any more
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert data_dir not in ps
    assert pg_ctl.is_file()
