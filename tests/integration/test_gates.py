"""Each gate against real clusters: a pass case and a fail (or warn) case beside it."""

from __future__ import annotations

import dataclasses
import secrets
import time

import psycopg
import pytest
from psycopg import sql

import sample_app
from gonogo.batch import load_batch
from gonogo.gates.monitoring_enabled import monitoring_enabled
from gonogo.gates.orphan_integrity import orphan_integrity
from gonogo.gates.required_tables import required_tables
from gonogo.gates.restore_point import create_restore_point
from gonogo.gates.server_versions import server_versions
from gonogo.gates.session_guards import session_guards
from gonogo.results import Verdict
from gonogo.postgres.target import SessionGuards

SCALE = 0.02
BATCH = load_batch("20250115_recipe_fixes")


@pytest.fixture
def app_conn(prod_db, prod_conn):
    sample_app.load(prod_db, scale=SCALE)
    return prod_conn


def test_server_versions_pass_between_the_two_clusters(prod_cluster, staging_cluster):
    with prod_cluster.target().connect("tests", guards=None) as prod, \
            staging_cluster.target().connect("tests", guards=None) as staging:
        result = server_versions(prod, staging)
        number = prod.execute("SHOW server_version_num").fetchone()[0]
    assert result.verdict is Verdict.PASS
    assert f"({number})" in result.value and f"({number})" in result.threshold
    assert result.details[0]["production"].startswith("PostgreSQL ")


def test_required_tables_pass_on_the_sample_app(app_conn):
    result = required_tables(app_conn, BATCH)
    assert result.verdict is Verdict.PASS
    assert result.value == f"{len(BATCH.tables_needed())} of {len(BATCH.tables_needed())} present"
    assert all(d["present"] for d in result.details)


def test_required_tables_fail_when_one_is_dropped(app_conn):
    app_conn.execute('DROP TABLE "Membership"')
    result = required_tables(app_conn, BATCH)
    assert result.verdict is Verdict.FAIL
    assert [d["table"] for d in result.details if not d["present"]] == ["Membership"]
    assert "Membership" in result.message and "drift" in result.message


def test_required_tables_fail_on_an_empty_database(prod_conn):
    result = required_tables(prod_conn, BATCH)
    assert result.verdict is Verdict.FAIL and result.value.startswith("0 of ")


def test_orphan_integrity_passes_on_clean_data(app_conn):
    derived, from_file = orphan_integrity(app_conn, BATCH)
    assert derived.verdict is Verdict.PASS and from_file.verdict is Verdict.PASS
    # one row per foreign key the batch's SQL adds, each with no orphan
    assert len(derived.details) == 7 and all(row["orphans"] == 0 for row in derived.details)
    assert from_file.details == []


def test_orphan_integrity_counts_and_names_the_orphans(prod_db, prod_conn):
    sample_app.load(prod_db, scale=SCALE, defects=["orphan_recipe_items"])
    derived, from_file = orphan_integrity(prod_conn, BATCH)
    orphans = [row[0] for row in prod_conn.execute(
        'SELECT ri."id" FROM "RecipeItem" ri WHERE NOT EXISTS '
        '(SELECT FROM "Recipe" r WHERE r."id" = ri."recipeId") ORDER BY ri."id"')]
    assert len(orphans) == 5
    # derived from the batch's FOREIGN KEY clauses: names the constraint, the count, example keys
    assert derived.verdict is Verdict.FAIL and derived.value == f"{len(orphans)} orphaned rows"
    [bad] = [row for row in derived.details if row["orphans"]]
    assert bad["constraint"] == "RecipeItem_recipeId_fkey" and bad["table"] == "RecipeItem"
    assert bad["orphans"] == len(orphans)
    assert sorted(bad["example_keys"], key=int) == [str(i) for i in orphans[:5]]
    # and the batch's own integrity_checks.sql agrees
    assert from_file.verdict is Verdict.FAIL and from_file.value == f"{len(orphans)} orphaned rows"
    assert from_file.details == [{"reference": "RecipeItem.recipeId -> Recipe.id", "orphans": len(orphans),
                                  "example_ids": orphans[:5]}]
    assert derived.hint and from_file.hint


def test_orphan_integrity_is_absent_without_foreign_keys_or_checks(app_conn):
    indexes_only = dataclasses.replace(BATCH, integrity_checks=None, steps=(BATCH.steps[3],))
    assert orphan_integrity(app_conn, indexes_only) == []


def test_session_guards_pass_with_the_values_requested(prod_db):
    guards = SessionGuards(lock_timeout="1500ms", statement_timeout="120s",
                           idle_in_transaction_session_timeout="10min")
    result = session_guards(prod_db, guards, app="run_1/set_session_guards")
    assert result.verdict is Verdict.PASS
    # As the server reports them back (120s reads 2min): measured, not echoed.
    assert result.value == ("lock_timeout=1500ms, statement_timeout=2min, "
                            "idle_in_transaction_session_timeout=10min")
    assert "gonogo/run_1/set_session_guards" in result.message


def test_session_guards_judge_the_sessions_real_timeouts_by_their_ranges_not_by_the_request(prod_db):
    """A lock_timeout of 0 (wait forever) that got past every check before: the session really
    runs with it, as asked, and the gate fails on what the session holds."""
    guards = SessionGuards()
    object.__setattr__(guards, "lock_timeout", "0")  # as a pooler or an older check would let through
    result = session_guards(prod_db, guards, app="run_1/set_session_guards")
    assert result.verdict is Verdict.FAIL
    assert "lock_timeout=0: 0 means wait forever in PostgreSQL" in result.message, result.message
    assert "from 10ms to 5min" in result.message and "lock_timeout from 10ms to 5min" in result.threshold


def test_restore_point_on_an_archiving_cluster_reaches_the_archive(prod_cluster, prod_conn):
    result = create_restore_point(prod_conn, "gonogo_test_restore_point")
    assert result.verdict is Verdict.PASS
    [detail] = result.details
    assert detail["name"] == "gonogo_test_restore_point"
    assert detail["lsn"] in result.value and detail["walfile"] in result.value
    assert prod_conn.execute("SELECT %s::pg_lsn > '0/0'", [detail["lsn"]]).fetchone()[0]
    archived = prod_cluster.archive_dir / detail["walfile"]
    deadline = time.monotonic() + 30
    while not archived.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert archived.exists(), f"{detail['walfile']} not archived; archive has {sorted(prod_cluster.archive_dir.iterdir())}"


def test_restore_point_without_archiving_warns(staging_db):
    with staging_db.connect("tests", guards=None) as conn:
        result = create_restore_point(conn, "gonogo_test_restore_point")
    assert result.verdict is Verdict.WARN
    assert "archive_mode=off" in result.message
    assert result.details[0]["lsn"]


def test_monitoring_passes_once_pg_stat_statements_is_created(prod_conn):
    before = monitoring_enabled(prod_conn)
    assert before.verdict is Verdict.WARN
    assert "not created" in before.value and before.hint

    prod_conn.execute("CREATE EXTENSION pg_stat_statements")
    after = monitoring_enabled(prod_conn)
    assert after.verdict is Verdict.PASS
    assert after.value.startswith("pg_stat_statements loaded, created")


def test_monitoring_as_a_role_without_monitoring_grants_warns_and_names_them(prod_cluster, prod_db, prod_conn):
    """The trial's production login: it owns the app, nothing more. current_setting() of
    shared_preload_libraries is refused to it; the gate must not crash but say what to grant."""
    name, password = f"app_{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    admin = prod_cluster.target().connect("tests", guards=None)
    admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))
    as_role = dataclasses.replace(prod_db, user=name, password=password)
    try:
        with as_role.connect("tests", guards=None) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):  # what crashed check_monitoring_enabled
                conn.execute("SELECT current_setting('shared_preload_libraries')")
            unknown = monitoring_enabled(conn)
            assert unknown.verdict is Verdict.WARN and "cannot tell" in unknown.value
            assert f"GRANT pg_read_all_settings TO {name}" in unknown.hint
            assert "CREATE EXTENSION pg_stat_statements" in unknown.hint

            prod_conn.execute("CREATE EXTENSION pg_stat_statements")
            prod_conn.execute("SELECT count(*) FROM pg_class")  # a statement of another role
            hidden = monitoring_enabled(conn)  # loaded: pg_stat_statements itself answers
            assert hidden.verdict is Verdict.WARN
            assert hidden.value.startswith("pg_stat_statements loaded, created")
            assert f"GRANT pg_read_all_stats TO {name}" in hidden.hint and "hidden from" in hidden.value

            admin.execute(sql.SQL("GRANT pg_monitor TO {}").format(sql.Identifier(name)))
            granted = monitoring_enabled(conn)
            assert granted.verdict is Verdict.PASS, granted.message
            assert granted.value.startswith("pg_stat_statements loaded, created")
    finally:
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
        admin.close()

