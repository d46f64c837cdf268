"""Sqitch (gonogo.tools.sqitch) against the real Sqitch 1.3.1 and real PostgreSQL.

The corpus is tests/corpus/sqitch/tracker: the tracker app as a Sqitch project (plan with
dependencies and a tag, deploy scripts in BEGIN/COMMIT, one CONCURRENTLY index without,
verify scripts that raise). The real `sqitch` deploys the first changes, gonogo applies the
rest, and the real `sqitch status` must then say nothing is pending; the registry gonogo
writes is compared row by row with the one `sqitch deploy` writes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gonogo.errors import BatchError
from gonogo.gates.contracts import contracts
from gonogo.tools.imported import import_batch, pending
from gonogo.results import Verdict
from gonogo.apply.steps import Ledger, apply_steps, rollback_steps
from gonogo.tools import get
from helpers import apt_install

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "sqitch" / "tracker"
PINNED = {"sqitch": "1.3.1-1", "libdbd-pg-perl": "3.16.0-2"}
UP_TO_DATE = "Nothing to deploy (up-to-date)"
PLANNER = "Mara Quint <mara@tracker.example>"


def quiet(_: str) -> None:
    pass


def installed_version(package: str) -> str | None:
    done = subprocess.run(["dpkg-query", "-W", "-f", "${Status} ${Version}", package], capture_output=True, text=True)
    status = done.stdout.split()
    return status[-1] if done.returncode == 0 and status[:3] == ["install", "ok", "installed"] else None


def sqitch_bin() -> str:
    """Debian's sqitch at the pinned version, with DBD::Pg (its registry writes) and psql (it
    runs every script with psql), installed with apt-get when missing; a failed install fails
    the test with apt-get's reason."""
    missing = [f"{p}={v}" for p, v in PINNED.items() if installed_version(p) != v]
    if not shutil.which("psql"):
        missing.append("postgresql-client")
    if missing:
        apt_install(missing)
    return shutil.which("sqitch") or pytest.fail("apt-get installed sqitch but it is not on PATH")


@pytest.fixture(scope="module")
def sqitch_exe() -> str:
    return sqitch_bin()


class Sqitch:
    """The real sqitch on one project folder and one database."""

    def __init__(self, exe: str, project: Path, target):
        self.exe, self.project, self.target = exe, project, target

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        t = self.target
        uri = f"db:pg://{t.user}@{t.host}:{t.port}/{t.dbname}"
        command = args[0]
        argv = [self.exe, *args[:1], *(["--target", uri] if command not in ("plan", "add", "tag", "rework")
                                        else []), *args[1:]]
        env = {**os.environ, **t.libpq_env(), "SQITCH_FULLNAME": "Ada Lovelace",
               "SQITCH_EMAIL": "ada@tracker.example", "SQITCH_USER_CONFIG": "/dev/null"}
        done = subprocess.run(argv, cwd=self.project, env=env, capture_output=True, text=True, timeout=120)
        if check:
            assert done.returncode == 0, f"sqitch {' '.join(args)}: rc {done.returncode}\n{done.stdout}{done.stderr}"
        return done

    def status(self) -> subprocess.CompletedProcess:
        return self("status", check=False)


def up_to_date(status: subprocess.CompletedProcess) -> bool:
    """notes/tools.md 5.7: rc 0 and a line that says so (pending is rc 0 too)."""
    return status.returncode == 0 and UP_TO_DATE in status.stdout.splitlines()


@pytest.fixture
def project(tmp_path) -> Path:
    folder = tmp_path / "tracker"
    shutil.copytree(CORPUS, folder)
    return folder


def seed(conn) -> None:
    conn.execute((CORPUS / "seed.sql").read_text())


def registry(conn) -> dict[str, list[tuple]]:
    """Every registry row but who committed it and when (Sqitch's user is not gonogo)."""
    return {name: conn.execute(sql).fetchall() for name, sql in {
        "releases": "SELECT version FROM sqitch.releases",
        "projects": "SELECT project, uri FROM sqitch.projects",
        "changes": "SELECT change_id, script_hash, change, project, note, planned_at, planner_name, planner_email "
                   "FROM sqitch.changes ORDER BY committed_at",
        "dependencies": "SELECT change_id, type, dependency, dependency_id FROM sqitch.dependencies "
                        "ORDER BY change_id, dependency",
        "tags": "SELECT tag_id, tag, project, change_id, note, planned_at, planner_name, planner_email "
                "FROM sqitch.tags ORDER BY tag",
        "events": "SELECT event, change_id, change, project, note, requires, conflicts, tags, planned_at, "
                  "planner_name, planner_email FROM sqitch.events ORDER BY committed_at",
    }.items()}


def test_sqitch_is_installed_at_the_pinned_version(sqitch_exe):
    version = subprocess.run([sqitch_exe, "--version"], capture_output=True, text=True, check=True).stdout
    assert "v1.3.1" in version
    assert subprocess.run(["perl", "-MDBD::Pg", "-e", "1"]).returncode == 0
    assert shutil.which("psql")


def test_migrations_follow_the_plan_with_sqitch_change_ids(sqitch_exe, project, prod_db):
    migrations = get("sqitch").migrations(project)
    names = ["users", "projects", "issues", "comments", "comments_author_index", "labels", "issue_priority"]
    assert [m.name for m in migrations] == names
    # the ids the real Sqitch computes from the same plan
    listed = Sqitch(sqitch_exe, project, prod_db)("plan", "--format", "format:%H %n").stdout.split("\n")
    assert [m.key + " " + m.name for m in migrations] == [line for line in listed if line[:1].isalnum()]
    assert {m.up.mode for m in migrations} == {"statements"}
    assert all(m.up.path == project / "deploy" / f"{m.name}.sql" for m in migrations)
    assert all(m.down.path == project / "revert" / f"{m.name}.sql" for m in migrations)
    # the deploy script's own BEGIN/COMMIT is the transaction (psql -f); the CONCURRENTLY one has none
    assert [m.up.one_transaction for m in migrations] == [False] * 7
    assert [s.sql for s in migrations[0].up.statements][0] == "BEGIN"
    assert [s.sql for s in migrations[4].up.statements] == [
        "CREATE INDEX CONCURRENTLY comments_author_id_idx ON comments (author_id)"]
    # verify scripts run inside gonogo's rolled-back transaction: their own BEGIN/ROLLBACK left out, lines kept
    verify = migrations[-1].verify
    assert verify.path == project / "verify" / "issue_priority.sql"
    assert [s.line for s in verify.statements] == [5, 8]
    issues = migrations[2]
    assert issues.info["requires"][0]["as_string"] == "projects" and issues.info["tags"][0]["tag"] == "@v1.0"
    assert migrations[-1].info["note"] == "Priority and estimate on issues;\nclosed_at backfilled for closed issues."


@pytest.mark.parametrize("line, expected", [
    ("widgets 2024-04-01T10:00:00Z", "line 13: Missing planner name and email"),
    ("widgets Mara Quint <mara@tracker.example>", "line 13: Missing timestamp"),
    ("widgets [nope] 2024-04-01T10:00:00Z " + PLANNER, 'line 13: Unknown change "nope" required by change "widgets"'),
    ("labels 2024-04-01T10:00:00Z " + PLANNER, 'line 13: Change "labels" duplicates earlier declaration on line 11'),
    ("@v1.0 2024-04-01T10:00:00Z " + PLANNER, 'line 13: Tag "v1.0" duplicates earlier declaration on line 8'),
    ("wid:gets 2024-04-01T10:00:00Z " + PLANNER, "line 13: Invalid name"),
    ("widgets [issues!] 2024-04-01T10:00:00Z " + PLANNER, 'line 13: "issues!" is not a valid dependency'),
])
def test_a_malformed_plan_line_names_the_file_and_line(sqitch_exe, project, prod_db, line, expected):
    plan = project / "sqitch.plan"
    plan.write_text(plan.read_text() + line + "\n")
    with pytest.raises(BatchError) as caught:
        get("sqitch").migrations(project)
    assert str(caught.value).startswith(f"{plan} {expected}"), caught.value
    assert "What to do" in str(caught.value)
    # the real Sqitch refuses the same plan, at the same line
    refused = Sqitch(sqitch_exe, project, prod_db)("plan", check=False)
    assert refused.returncode != 0 and expected.removeprefix("line 13: ") in refused.stderr, refused.stderr


def test_other_layouts_and_missing_scripts_say_what_to_do(project, tmp_path):
    prisma = CORPUS.parents[1] / "prisma" / "tracker"
    with pytest.raises(BatchError, match=r"no sqitch\.plan here; Sqitch's layout is sqitch\.plan and sqitch\.conf"):
        get("sqitch").migrations(prisma)
    (project / "deploy" / "labels.sql").unlink()
    with pytest.raises(BatchError, match=rf"{project}/sqitch\.plan line 11: change labels has no deploy script "
                                         rf"deploy/labels\.sql"):
        get("sqitch").migrations(project)
    (project / "sqitch.conf").write_text("[core]\n\tengine = pg\n\tdeploy_dir = migrations\n")
    with pytest.raises(BatchError, match=r"sqitch\.conf line 3: core\.deploy_dir = migrations moves the plan"):
        get("sqitch").migrations(project)


def test_pending_keeps_what_sqitch_has_not_deployed(sqitch_exe, project, prod_db, prod_conn):
    Sqitch(sqitch_exe, project, prod_db)("deploy", "--to", "@v1.0")
    seed(prod_conn)
    batch = pending(import_batch("sqitch", project), prod_conn)
    assert [s.name for s in batch.steps] == ["comments", "comments_author_index", "labels", "issue_priority"]
    assert [m.name for m in batch.applied_before] == ["users", "projects", "issues"]
    assert [c.after for c in batch.contracts] == ["comments", "comments_author_index", "labels", "issue_priority"]
    assert [s.rollback_source for s in batch.steps] == ["the migration tool's down file"] * 4
    assert batch.history_objects == ("gonogo.", "sqitch.")


def test_gonogo_writes_the_registry_sqitch_writes(sqitch_exe, project, make_database):
    ours, theirs = make_database("production", "sqitch_ours"), make_database("production", "sqitch_theirs")
    Sqitch(sqitch_exe, project, ours)("deploy", "--to", "@v1.0")
    Sqitch(sqitch_exe, project, theirs)("deploy")
    with ours.connect("tests", guards=None) as conn, theirs.connect("tests", guards=None) as other:
        seed(conn)
        batch = pending(import_batch("sqitch", project), conn)
        run = apply_steps(conn, list(batch.steps), phase="production", live_traffic=False, log=quiet,
                          ledger=Ledger(batch, "run-1"))
        assert run.ok, run.error
        assert run.applied == ["comments", "comments_author_index", "labels", "issue_priority"]
        assert registry(conn) == registry(other)
        assert conn.execute("SELECT count(*) FROM issues WHERE status = 'closed' AND closed_at IS NULL"
                            ).fetchone()[0] == 0
        committers = conn.execute("SELECT DISTINCT committer_name FROM sqitch.changes ORDER BY 1").fetchall()
    assert committers == [("Ada Lovelace",), ("gonogo",)]
    status = Sqitch(sqitch_exe, project, ours).status()
    assert up_to_date(status), status.stdout + status.stderr
    assert "Verify successful" in Sqitch(sqitch_exe, project, ours)("verify").stdout


def test_on_an_empty_database_gonogo_creates_the_registry(sqitch_exe, project, prod_db, prod_conn):
    batch = pending(import_batch("sqitch", project), prod_conn)
    assert len(batch.steps) == 7 and batch.applied_before == ()
    run = apply_steps(prod_conn, list(batch.steps), phase="production", live_traffic=False, log=quiet,
                      ledger=Ledger(batch, "run-1"))
    assert run.ok, run.error
    assert prod_conn.execute("SELECT version, installer_name FROM sqitch.releases").fetchall() == [(1.1, "gonogo")]
    assert prod_conn.execute("SELECT project, uri FROM sqitch.projects").fetchall() == [
        ("tracker", "https://github.com/example/tracker/")]
    assert up_to_date(Sqitch(sqitch_exe, project, prod_db).status())


def test_sqitch_deploys_on_top_and_gonogo_rolls_back(sqitch_exe, project, prod_db, prod_conn):
    sqitch = Sqitch(sqitch_exe, project, prod_db)
    sqitch("deploy", "--to", "@v1.0")
    seed(prod_conn)
    batch = pending(import_batch("sqitch", project), prod_conn)
    ledger = Ledger(batch, "run-1")
    assert apply_steps(prod_conn, list(batch.steps), phase="production", live_traffic=False, log=quiet,
                       ledger=ledger).ok
    # the team's next change, added and deployed with Sqitch itself, on top of gonogo's
    sqitch("add", "watchers", "--requires", "issues", "--requires", "users", "-n", "Users watching issues.")
    (project / "deploy" / "watchers.sql").write_text(
        "-- Deploy tracker:watchers to pg\n\nBEGIN;\n\nCREATE TABLE watchers (\n"
        "    user_id  BIGINT NOT NULL REFERENCES users (id),\n"
        "    issue_id BIGINT NOT NULL REFERENCES issues (id) ON DELETE CASCADE,\n"
        "    PRIMARY KEY (user_id, issue_id)\n);\n\nCOMMIT;\n")
    (project / "revert" / "watchers.sql").write_text("BEGIN;\n\nDROP TABLE watchers;\n\nCOMMIT;\n")
    (project / "verify" / "watchers.sql").write_text("BEGIN;\n\nSELECT user_id, issue_id FROM watchers WHERE FALSE;"
                                                     "\n\nROLLBACK;\n")
    deployed = sqitch("deploy", "--verify")
    assert re.search(r"\+ watchers \.+ ok", deployed.stdout), deployed.stdout
    assert up_to_date(sqitch.status())
    # gonogo sees it as applied before, its own steps too
    again = pending(import_batch("sqitch", project), prod_conn)
    assert again.steps == () and len(again.applied_before) == 8
    # Sqitch reverts its change, gonogo its own: they are pending again for Sqitch
    sqitch("revert", "-y", "--to", "issue_priority")
    rolled = rollback_steps(prod_conn, list(batch.steps), phase="production", log=quiet, ledger=ledger)
    assert rolled.ok, rolled.error
    status = sqitch.status()
    assert status.returncode == 0 and not up_to_date(status)
    undeployed = status.stdout.split("Undeployed changes:")[1].split()
    assert undeployed == ["*", "comments", "*", "comments_author_index", "*", "labels", "*", "issue_priority",
                          "*", "watchers"], status.stdout
    assert prod_conn.execute("SELECT array_agg(event ORDER BY committed_at) FROM sqitch.events "
                             "WHERE change = 'labels'").fetchone()[0] == ["deploy", "revert"]
    assert prod_conn.execute("SELECT to_regclass('labels')").fetchone()[0] is None
    # and Sqitch deploys them all again, normally
    assert re.search(r"\+ issue_priority \.+ ok", sqitch("deploy").stdout)
    assert up_to_date(sqitch.status())


def test_a_failing_step_leaves_nothing_recorded(sqitch_exe, project, prod_db, prod_conn):
    sqitch = Sqitch(sqitch_exe, project, prod_db)
    sqitch("deploy", "--to", "@v1.0")
    seed(prod_conn)
    script = project / "deploy" / "issue_priority.sql"
    # a dangerous change: every existing issue has a NULL estimate
    text = script.read_text()
    script.write_text(text.replace("COMMIT;", "ALTER TABLE issues ALTER COLUMN estimate SET NOT NULL;\n\nCOMMIT;"))
    line = text.count("\n", 0, text.index("COMMIT;")) + 1
    batch = pending(import_batch("sqitch", project), prod_conn)
    run = apply_steps(prod_conn, list(batch.steps), phase="production", live_traffic=False, log=quiet,
                      ledger=Ledger(batch, "run-1"))
    assert run.failed_step == "issue_priority"
    assert f"issue_priority.sql line {line} failed (SQLSTATE 23502)" in run.error
    assert prod_conn.execute("SELECT array_agg(change ORDER BY committed_at) FROM sqitch.changes").fetchone()[0] == [
        "users", "projects", "issues", "comments", "comments_author_index", "labels"]
    assert prod_conn.execute("SELECT count(*) FROM sqitch.events WHERE change = 'issue_priority'").fetchone()[0] == 0
    assert prod_conn.execute("SELECT to_regtype('issue_priority')").fetchone()[0] is None
    status = sqitch.status()
    assert status.returncode == 0 and "Undeployed change:\n  * issue_priority" in status.stdout, status.stdout


def test_verify_scripts_are_contracts_after_their_step(project, prod_conn):
    batch = pending(import_batch("sqitch", project), prod_conn)
    assert apply_steps(prod_conn, list(batch.steps), phase="dry_run", live_traffic=False, log=quiet, batch=batch).ok
    prod_conn.execute("INSERT INTO users (email) VALUES ('a@x'); INSERT INTO projects (name, owner_id) VALUES ('p', 1)")
    names = [s.name for s in batch.steps]
    [held] = contracts(prod_conn, batch, names, phase="dry_run", subject="issue_priority")
    assert held.verdict is Verdict.PASS and held.message.endswith("issue_priority")
    # a closed issue without closed_at breaks what verify/issue_priority.sql checks
    prod_conn.execute("INSERT INTO issues (project_id, author_id, title, status) VALUES (1, 1, 't', 'closed')")
    [broken] = contracts(prod_conn, batch, names, phase="dry_run", subject="issue_priority")
    assert broken.verdict is Verdict.FAIL and broken.message == "issue_priority: division by zero"
    # each verify script is due right after its own step only
    [users] = contracts(prod_conn, batch, names, phase="dry_run", subject="users")
    assert [d["contract"] for d in users.details] == ["users"]


def test_reworked_change_runs_its_tagged_scripts(sqitch_exe, project, prod_db, prod_conn):
    """`sqitch rework`: the earlier labels becomes labels@v1.1.sql, the plan names labels twice."""
    sqitch = Sqitch(sqitch_exe, project, prod_db)
    sqitch("tag", "v1.1", "-n", "Second release.")
    sqitch("rework", "labels", "-n", "Labels get a description.")
    deploy = project / "deploy" / "labels.sql"
    deploy.write_text("BEGIN;\n\nALTER TABLE labels ADD COLUMN description TEXT;\n\nCOMMIT;\n")
    (project / "revert" / "labels.sql").write_text("BEGIN;\n\nALTER TABLE labels DROP COLUMN description;\n\n"
                                                   "COMMIT;\n")
    (project / "verify" / "labels.sql").write_text("SELECT description FROM labels WHERE FALSE;\n")
    migrations = get("sqitch").migrations(project)
    assert [m.name for m in migrations][-3:] == ["labels@v1.1", "issue_priority", "labels"]
    listed = sqitch("plan", "--format", "format:%H").stdout.split()
    assert [m.key for m in migrations] == [h for h in listed if len(h) == 40]
    assert migrations[-3].up.path.name == "labels@v1.1.sql" and migrations[-3].down.path.name == "labels@v1.1.sql"
    sqitch("deploy", "--to", "@v1.1")
    batch = pending(import_batch("sqitch", project), prod_conn)
    assert [s.name for s in batch.steps] == ["labels"]
    assert apply_steps(prod_conn, list(batch.steps), phase="production", live_traffic=False, log=quiet,
                       ledger=Ledger(batch, "run-1")).ok
    assert up_to_date(sqitch.status())
    assert "Verify successful" in sqitch("verify").stdout
    assert prod_conn.execute("SELECT count(*) FROM sqitch.changes WHERE change = 'labels'").fetchone()[0] == 2


def test_an_edited_plan_line_stops_the_import(sqitch_exe, project, prod_db, prod_conn):
    Sqitch(sqitch_exe, project, prod_db)("deploy", "--to", "@v1.0")
    plan = project / "sqitch.plan"
    plan.write_text(plan.read_text().replace("# Projects, each owned by a user.", "# Projects."))
    with pytest.raises(BatchError, match=r"sqitch\.plan: this database's Sqitch registry has deployed projects "
                                         r"\(ea0a4e11ae32…\), issues .*, which sqitch\.plan no longer has"):
        pending(import_batch("sqitch", project), prod_conn)


def test_a_change_sqitch_failed_to_deploy_is_pending_as_sqitch_says(sqitch_exe, project, prod_db, prod_conn):
    """Sqitch logs a 'fail' event and no change row; `sqitch deploy` reverts what the same run had
    deployed (mode all). gonogo's applied() reads sqitch.changes as Sqitch does: all pending."""
    sqitch = Sqitch(sqitch_exe, project, prod_db)
    sqitch("deploy", "--to", "@v1.0")
    seed(prod_conn)
    script = project / "deploy" / "issue_priority.sql"
    script.write_text(script.read_text().replace(
        "COMMIT;", "ALTER TABLE issues ALTER COLUMN estimate SET NOT NULL;\n\nCOMMIT;"))
    failed = sqitch("deploy", check=False)
    assert failed.returncode != 0 and "contains null values" in failed.stderr
    events = prod_conn.execute("SELECT event, change FROM sqitch.events WHERE change IN ('labels', 'issue_priority') "
                               "ORDER BY committed_at").fetchall()
    assert events == [("deploy", "labels"), ("fail", "issue_priority"), ("revert", "labels")]
    batch = pending(import_batch("sqitch", project), prod_conn)
    assert [s.name for s in batch.steps] == ["comments", "comments_author_index", "labels", "issue_priority"]
    assert "Undeployed changes:" in sqitch.status().stdout


def test_a_tag_planned_after_its_change_was_deployed_is_logged_as_sqitch_does(sqitch_exe, project, make_database):
    """Sqitch logs the tags the plan put on its current change since (Engine/pg.pm log_new_tags)."""
    ours, theirs = make_database("production", "sqitch_ours"), make_database("production", "sqitch_theirs")
    for target in (ours, theirs):
        Sqitch(sqitch_exe, project, target)("deploy", "--to", "comments_author_index")
    Sqitch(sqitch_exe, project, ours)("tag", "v1.1", "comments_author_index", "-n", "Comments indexed.")
    plan = (project / "sqitch.plan").read_text()
    assert plan.index("@v1.1") < plan.index("\nlabels ")
    Sqitch(sqitch_exe, project, theirs)("deploy")
    with ours.connect("tests", guards=None) as conn, theirs.connect("tests", guards=None) as other:
        batch = pending(import_batch("sqitch", project), conn)
        assert [s.name for s in batch.steps] == ["labels", "issue_priority"]
        assert apply_steps(conn, list(batch.steps), phase="production", live_traffic=False, log=quiet,
                           ledger=Ledger(batch, "run-1")).ok
        assert registry(conn)["tags"] == registry(other)["tags"] and len(registry(conn)["tags"]) == 2
        assert registry(conn) == registry(other)
    assert up_to_date(Sqitch(sqitch_exe, project, ours).status())
