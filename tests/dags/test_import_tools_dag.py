"""Every migration tool's folder through the whole DAG (dag.test(), real clusters): production is
brought to the tracker app's first migrations the tool's own way (the real dbmate, sqitch and
alembic; Flyway's and golang-migrate's documented tables), the pending additive migrations
come out Go, are applied, and the tool's own status then says nothing is pending; the
dangerous ones come out No-Go with the findings named and production untouched.
(Prisma's runs are in test_import_dag.py.)"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from collections.abc import Callable
from pathlib import Path

import pytest

from gonogo.authoring.queries import Query
from helpers import pg_dump_schema, states
from integration.tools import test_alembic as alembic_
from integration.tools import test_dbmate as dbmate_
from integration.tools import test_flyway as flyway_
from integration.tools import test_golang_migrate as golang_
from integration.tools import test_sqitch as sqitch_
from integration.tools.imported_steps import copy_migrations, run_file

# What the tracker app keeps sending production during a run (snake_case in every tool's corpus).
APP = (Query("issues_of_project", "SELECT id, title, status FROM issues WHERE project_id = %(p)s "
             "ORDER BY created_at DESC LIMIT 20", {"p": 7}),
       Query("issue", "SELECT id, title, body FROM issues WHERE id = %(i)s", {"i": 321}),
       Query("comments_of_issue", "SELECT id, body FROM comments WHERE issue_id = %(i)s", {"i": 321}))


@dataclass
class ToolApp:
    """One tool's tracker corpus: the folder gonogo is given (with the additive or also the
    dangerous pending migrations), production at the applied ones the tool's way, its status."""

    tool: str
    folder: Callable[[Path, bool], Path]     # (tmp, dangerous) -> the folder to import
    prepare: Callable[[object, Path], None]  # (production, folder): the tool applies its first migrations
    up_to_date: Callable[[object, Path], bool]
    dangerous_step: str                      # a dangerous migration's step name, and the rule that stops it
    dangerous_rule: str


def _dbmate() -> ToolApp:
    def exe() -> Path:
        return _dbmate_binary()

    def folder(tmp: Path, dangerous: bool) -> Path:
        return copy_migrations(dbmate_.MIGRATIONS, tmp / "db" / "migrations",
                               None if dangerous else dbmate_.APPLIED + dbmate_.PENDING[:2])

    def prepare(production, folder_: Path) -> None:
        applied = copy_migrations(dbmate_.MIGRATIONS, folder_.parent / "applied", dbmate_.APPLIED)
        done = dbmate_.dbmate(exe(), production, applied, "migrate")
        assert done.returncode == 0, done.stderr
        _seed(production, dbmate_.TRACKER)

    def up_to_date(production, folder_: Path) -> bool:
        return dbmate_.dbmate(exe(), production, folder_, "status", "--exit-code").returncode == 0

    return ToolApp("dbmate", folder, prepare, up_to_date, "20240320090000_add_issues_assignee_fk",
                   "constraint-missing-not-valid")


def _dbmate_binary() -> Path:
    """The real dbmate, installed from npm when missing."""
    return dbmate_.install_dbmate()


def _flyway() -> ToolApp:
    def folder(tmp: Path, dangerous: bool) -> Path:
        names = None if dangerous else [*flyway_.APPLIED, *flyway_.PENDING[:2], "U1_2__"]
        return copy_migrations(flyway_.MIGRATIONS, tmp / "db" / "migration", names)

    def prepare(production, folder_: Path) -> None:
        with production.connect("tests/flyway", guards=None) as conn:
            flyway_.flyway_migrate(conn, flyway_.APPLIED)
        _seed(production, flyway_.TRACKER)

    def up_to_date(production, folder_: Path) -> bool:
        """What `flyway info` reads: a successful row, with the file's checksum, for every V file."""
        with production.connect("tests/flyway", guards=None) as conn:
            rows = {script: (checksum, ok) for _r, _v, _d, _t, script, checksum, _by, ok in flyway_.history(conn)}
        return all(rows.get(p.name) == (flyway_.crc_of_lines(p.read_bytes()), True)
                   for p in folder_.glob("V*.sql"))

    return ToolApp("flyway", folder, prepare, up_to_date, "V1_4__add_issues_assignee_fk", "constraint-missing-not-valid")


def _golang_migrate() -> ToolApp:
    def folder(tmp: Path, dangerous: bool) -> Path:
        return copy_migrations(golang_.MIGRATIONS, tmp / "db" / "migrations",
                               None if dangerous else golang_.APPLIED + golang_.PENDING[:2])

    def prepare(production, folder_: Path) -> None:
        with production.connect("tests/migrate", guards=None) as conn:
            golang_.migrate_up(conn, golang_.APPLIED)
        _seed(production, golang_.TRACKER)

    def up_to_date(production, folder_: Path) -> bool:
        """What `migrate version` prints, against the newest file: the same version, not dirty."""
        newest = max(int(p.name.split("_")[0]) for p in folder_.glob("*.up.sql"))
        with production.connect("tests/migrate", guards=None) as conn:
            return golang_.rows(conn) == [(newest, False)]

    return ToolApp("golang-migrate", folder, prepare, up_to_date, "000005_add_issues_assignee_fk",
                   "constraint-missing-not-valid")


def _sqitch() -> ToolApp:
    def folder(tmp: Path, dangerous: bool) -> Path:
        project = tmp / "tracker"
        shutil.copytree(sqitch_.CORPUS, project)
        if dangerous:  # a change the team adds: the author made mandatory, in one statement
            with (project / "sqitch.plan").open("a") as plan:
                plan.write("issue_titles [issues] 2024-04-01T09:00:00Z Joe Fenwick <joe@tracker.example> "
                           "# Titles are never empty.\n")
            (project / "deploy" / "issue_titles.sql").write_text(
                "BEGIN;\nALTER TABLE issues ADD CONSTRAINT issues_title_not_empty CHECK (title <> '');\nCOMMIT;\n")
            (project / "revert" / "issue_titles.sql").write_text(
                "BEGIN;\nALTER TABLE issues DROP CONSTRAINT issues_title_not_empty;\nCOMMIT;\n")
            (project / "verify" / "issue_titles.sql").write_text("SELECT 1;\n")
        return project

    def prepare(production, project: Path) -> None:
        sqitch_.Sqitch(sqitch_.sqitch_bin(), project, production)("deploy", "--to", "@v1.0")
        _seed(production, sqitch_.CORPUS)

    def up_to_date(production, project: Path) -> bool:
        return sqitch_.up_to_date(sqitch_.Sqitch(sqitch_.sqitch_bin(), project, production).status())

    return ToolApp("sqitch", folder, prepare, up_to_date, "issue_titles", "constraint-missing-not-valid")


def _alembic() -> ToolApp:
    def folder(tmp: Path, dangerous: bool) -> Path:
        project = tmp / "tracker"
        shutil.copytree(alembic_.CORPUS, project, ignore=shutil.ignore_patterns("__pycache__"))
        if not dangerous:  # the last revision renames issues.body, which the app still reads: not additive
            next((project / "migrations" / "versions").glob(f"{alembic_.REVISIONS[-1]}_*.py")).unlink()
        if dangerous:  # a revision the team adds: an index on the busy issues table, built in place
            alembic_.write_revision(project, "f0a1b2c3d4e5", alembic_.REVISIONS[-1],
                                    'op.create_index("issues_title_idx", "issues", ["title"])',
                                    'op.drop_index("issues_title_idx", table_name="issues")', name="index_titles")
        return project

    def prepare(production, project: Path) -> None:
        alembic_.alembic(project, production, "upgrade", alembic_.REVISIONS[2])
        _seed(production, alembic_.CORPUS)

    def up_to_date(production, project: Path) -> bool:
        return alembic_.on_heads(project, production)

    return ToolApp("alembic", folder, prepare, up_to_date, "f0a1b2c3d4e5_index_titles",
                   "require-concurrent-index-creation")


def _seed(production, tracker: Path) -> None:
    with production.connect("tests/seed", guards=None) as conn:
        run_file(conn, tracker / "seed.sql")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")


APPS = {app.tool: app for app in (_dbmate(), _flyway(), _golang_migrate(), _sqitch(), _alembic())}


@pytest.mark.parametrize("tool", list(APPS))
def test_the_additive_migrations_come_out_go_and_the_tool_agrees_afterwards(rollout, tmp_path, tool):
    app = APPS[tool]
    folder = app.folder(tmp_path, False)
    env = rollout(load=lambda production: app.prepare(production, folder), app_queries=APP)
    assert not app.up_to_date(env.production, folder)  # something to roll out

    dagrun = env.run("Approve", migration_tool=tool, migrations_folder=str(folder))

    assert str(dagrun.state) == "success", env.why(dagrun)
    assert app.up_to_date(env.production, folder)
    report = json.loads(next((env.artifacts / "gonogo_rollout").glob("*/report.json")).read_text())
    applied = [r["subject"] for r in report["results"] if r["gate"] == "step_applied" and r["phase"] == "production"]
    assert applied and not any(r["verdict"] == "FAIL" for r in report["results"])


@pytest.mark.parametrize("tool", list(APPS))
def test_a_dangerous_migration_comes_out_no_go_with_its_finding_named(rollout, tmp_path, tool):
    app = APPS[tool]
    folder = app.folder(tmp_path, True)
    env = rollout(load=lambda production: app.prepare(production, folder), app_queries=APP)
    schema_before = pg_dump_schema(env.production)

    dagrun = env.run("Approve", migration_tool=tool, migrations_folder=str(folder))

    ti = states(dagrun)
    assert str(dagrun.state) == "failed" and ti["decide.evaluate_gates"] == "failed", env.why(dagrun)
    assert env.answered == [] and pg_dump_schema(env.production) == schema_before
    report = json.loads(next((env.artifacts / "gonogo_rollout").glob("*/report.json")).read_text())
    [lint] = [r for r in report["results"] if r["gate"] == "lint" and r["subject"] == app.dangerous_step]
    found = {rule for d in lint["details"] for rule in (d["rule"], *d["references"])}  # gonogo's or squawk's id
    assert lint["verdict"] == "FAIL" and app.dangerous_rule in found, lint
    no_go = [m for m in env.slack.messages if "No-Go" in m["text"]]
    assert len(no_go) == 1 and app.dangerous_step in json.dumps(no_go[0])
