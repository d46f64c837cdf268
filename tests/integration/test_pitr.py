"""The PITR drill: a base backup and the archived WAL of the production stand-in, recovered in
a new cluster to gonogo's restore point, show the pre-batch schema and data, although the
batch ran and rows were deleted after it."""

from __future__ import annotations

import os
import shutil
import time

import pytest
from psycopg import sql

import sample_app
from gonogo.batch import load_batch
from gonogo_local.cluster import LocalCluster
from gonogo.errors import SetupError
from gonogo.gates.restore_point import create_restore_point
from gonogo.clone.pitr import procedure, recovery_settings, render
from gonogo.results import Verdict
from gonogo.postgres.schema import diff, read_schema
from gonogo.apply.steps import apply_steps
from helpers import pg_dump_schema

SCALE = 0.05
BATCH = load_batch("20250115_recipe_fixes")
FINGERPRINTED = ("Recipe", "RecipeItem", "Ingredient", "RecipeSection")
BATCH_CONSTRAINT = "RecipeItem_recipeId_ingredientId_key"


def quiet(_: str) -> None:
    pass


def fingerprint(conn) -> dict:
    """Row counts of every app table, and an md5 of the ordered rows of a few."""
    digests = {}
    for table in FINGERPRINTED:
        query = sql.SQL("SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t.id), '')) FROM {} t")
        digests[table] = conn.execute(query.format(sql.Identifier(table))).fetchone()[0]
    return {"counts": sample_app.row_counts(conn), "md5": digests}


def has_constraint(conn, name: str) -> bool:
    return conn.execute("SELECT count(*) FROM pg_constraint WHERE conname = %s", [name]).fetchone()[0] == 1


def switch_wal_and_wait(conn, timeout: float = 30.0) -> str:
    """Close the current segment and wait until the archiver has it: after this the archive
    holds the WAL of everything done so far, so recovery must stop at the restore point
    rather than run out of WAL there."""
    walfile = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0]
    conn.execute("SELECT pg_switch_wal()")
    deadline = time.monotonic() + timeout
    while (conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()[0] or "") < walfile:
        assert time.monotonic() < deadline, f"{walfile} not archived within {timeout} s"
        time.sleep(0.1)
    return walfile


def test_recovery_to_the_restore_point_shows_the_pre_batch_schema_and_data(prod_cluster, make_database,
                                                                           cluster_base):
    target = make_database("production", "pitr")
    sample_app.load(target, scale=SCALE)
    backup = prod_cluster.base_backup(cluster_base / f"pitr-backup-{os.getpid()}")
    point_name = f"gonogo_pitr_drill_{os.getpid()}_{time.time_ns()}"
    recovered_name = f"pitr-{os.getpid()}"
    try:
        dump_before = pg_dump_schema(target)
        with target.connect("tests", guards=None) as conn:
            schema_before, data_before = read_schema(conn), fingerprint(conn)
            point = create_restore_point(conn, point_name)
            assert point.verdict == Verdict.PASS, point.message
            lsn = point.details[0]["lsn"]

            run = apply_steps(conn, list(BATCH.enabled_steps), phase="production", live_traffic=False, log=quiet)
            assert run.ok, run.error
            conn.execute('DELETE FROM "RecipeItem" WHERE id IN (SELECT id FROM "RecipeItem" ORDER BY id LIMIT 25)')
            # the original has moved on: the drill would prove nothing otherwise
            assert diff(schema_before, read_schema(conn)) != []
            assert fingerprint(conn) != data_before
            assert has_constraint(conn, BATCH_CONSTRAINT)
            switch_wal_and_wait(conn)

        recovered = LocalCluster.recover(cluster_base, recovered_name, backup, archive_dir=prod_cluster.archive_dir,
                                         restore_point=point_name, password=prod_cluster.password)
        at_point = recovered.target(target.dbname)
        with at_point.connect("tests", guards=None) as conn:
            in_recovery, replayed = conn.execute(
                "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text").fetchone()
            assert (in_recovery, replayed) == (False, lsn)  # promoted, having stopped at the restore point
            assert diff(schema_before, read_schema(conn)) == []
            assert fingerprint(conn) == data_before
            assert not has_constraint(conn, BATCH_CONSTRAINT)
        assert pg_dump_schema(at_point) == dump_before
        assert recovered.port != prod_cluster.port and (recovered.data_dir.stat().st_mode & 0o777) == 0o700
    finally:
        if leftover := LocalCluster.load(cluster_base, recovered_name):
            leftover.remove()
        shutil.rmtree(backup, ignore_errors=True)
    assert not (cluster_base / recovered_name).exists()


def test_a_restore_point_missing_from_the_archive_fails_with_the_server_log(prod_cluster, cluster_base):
    backup = prod_cluster.base_backup(cluster_base / f"pitr-backup-missing-{os.getpid()}")
    name = f"pitr-missing-{os.getpid()}"
    try:
        with pytest.raises(SetupError) as info:
            LocalCluster.recover(cluster_base, name, backup, archive_dir=prod_cluster.archive_dir,
                                 restore_point="never_written", password=prod_cluster.password)
        assert "recovery ended before configured recovery target was reached" in str(info.value)
        assert not LocalCluster.load(cluster_base, name).is_running()
    finally:
        if leftover := LocalCluster.load(cluster_base, name):
            leftover.remove()
        shutil.rmtree(backup, ignore_errors=True)


def test_recovery_settings_stop_at_the_named_restore_point(tmp_path):
    settings = recovery_settings("pre_batch", archive_dir=tmp_path / "wal archive", action="promote")
    assert settings == {"restore_command": f"cp '{tmp_path}/wal archive'/%f %p",
                        "recovery_target_name": "pre_batch", "recovery_target_action": "promote"}
    assert render(settings).splitlines()[0] == f"restore_command = 'cp ''{tmp_path}/wal archive''/%f %p'"
    assert recovery_settings("x", restore_command="pgbackrest archive-get %f %p")["recovery_target_action"] == "pause"


def test_procedure_names_the_restore_point_and_how_to_recover_to_it():
    text = procedure("pre_fix_batch_production_20250115", "0/3000090",
                     restore_command_hint="cp /mnt/archive/%f %p")
    assert "pre_fix_batch_production_20250115" in text and "0/3000090" in text
    assert "recovery_target_name = 'pre_fix_batch_production_20250115'" in text
    assert "restore_command = 'cp /mnt/archive/%f %p'" in text
    assert "recovery.signal" in text and "pg_is_in_recovery()" in text
    assert "recovery.conf" not in text.replace("no recovery.conf", "")
