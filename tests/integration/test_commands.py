"""The team's commands as gates: real processes (Python with psycopg, psql, sh, pytest) against
real databases. The commands live in tests/commands, as they would in an app's repository."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import signal
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from gonogo.gates import commands as commands_module
from gonogo.batch import manifest_schema
from gonogo.gates.commands import Command, commands_from_manifest, run_command
from gonogo.results import Verdict

TEAM_APP = Path(__file__).parents[1] / "commands"
PY = sys.executable  # the venv's Python: it has psycopg and pytest, as the team's would
RECIPE = """CREATE TABLE recipe (id int PRIMARY KEY, title text,
                                 CONSTRAINT recipe_title_not_blank CHECK (title <> ''));
            INSERT INTO recipe VALUES (1, 'soup'), (2, 'bread')"""


def gate(command: Command, target, log=None):
    return run_command(command, target, phase="dry_run", subject="20250115_add_fk", app="run_1/dry_run",
                       log=log if log is not None else (lambda line: None))


def team(name: str, run, **kw) -> Command:
    return Command(name=name, run=run, cwd=kw.pop("cwd", TEAM_APP), **kw)


def written(target) -> str:
    """Everything a command run against target leaves in the result, as JSON."""
    return json.dumps(target.to_dict())


@pytest.fixture
def recipes(staging_db):
    with staging_db.connect("tests", guards=None) as conn:
        conn.execute(RECIPE)
    return staging_db


# -- pass and fail ------------------------------------------------------------------------------

def test_a_contract_check_passes_and_its_output_is_logged_as_it_comes(recipes):
    logged = []
    result = gate(team("db_contract", [PY, "db_contract_check.py", "recipe", "recipe_title_not_blank"]),
                  recipes, log=logged.append)
    assert result.verdict is Verdict.PASS, result.message
    assert (result.gate, result.title) == ("commands", "Team command: db_contract")
    assert result.value.startswith("exit 0 in ") and result.threshold == "exit 0 within 600 s"
    assert "[db_contract] ok: recipe_title_not_blank CHECK ((title <> ''::text))" in logged
    detail = result.details[0]
    assert detail["exit_code"] == 0 and 0 < detail["seconds"] < 30 and detail["output_lines"] == 2
    assert detail["output_tail"].endswith("ok: recipe_title_not_blank CHECK ((title <> ''::text))")


def test_a_contract_check_fails_with_the_tail_of_its_output(recipes):
    with recipes.connect("tests", guards=None) as conn:
        conn.execute("ALTER TABLE recipe DROP CONSTRAINT recipe_title_not_blank")
    result = gate(team("db_contract", f"{shlex.quote(PY)} db_contract_check.py recipe recipe_title_not_blank"),
                  recipes)
    assert result.verdict is Verdict.FAIL
    assert result.value.startswith("exit 1 in ")
    assert "failed on staging with exit code 1" in result.message
    assert "FAIL: constraint recipe_title_not_blank is missing on recipe" in result.message
    assert "FAIL: constraint recipe_title_not_blank is missing" in result.details[0]["output_tail"]
    assert result.hint


def test_a_psql_script_finds_the_database_in_the_pg_variables(recipes):
    result = gate(team("psql_count", ["./psql_query.sh", "SELECT count(*), current_setting('application_name') "
                                                         "FROM recipe"]), recipes)
    assert result.verdict is Verdict.PASS, result.message
    assert result.details[0]["output_tail"] == "2|gonogo/run_1/dry_run/command"


def test_a_pytest_run_passes_then_fails_on_what_the_data_says(recipes):
    command = team("db_pytest", [PY, "-m", "pytest", "-q", "check_recipes.py"])
    assert gate(command, recipes).verdict is Verdict.PASS
    with recipes.connect("tests", guards=None) as conn:
        conn.execute("ALTER TABLE recipe DROP CONSTRAINT recipe_title_not_blank")
        conn.execute("INSERT INTO recipe VALUES (3, '')")
    result = gate(command, recipes)
    assert result.verdict is Verdict.FAIL and result.value.startswith("exit 1 in ")
    assert "1 failed, 1 passed" in result.message
    assert "AssertionError: 1 recipes have no title" in result.details[0]["output_tail"]


# -- a command that cannot run, or does not end ------------------------------------------------

def test_a_missing_executable_is_a_fail_that_says_so(staging_db):
    result = gate(team("prisma_diff", ["gonogo-no-such-tool", "migrate", "diff"]), staging_db)
    assert result.verdict is Verdict.FAIL and result.value == "not started"
    assert result.message == "command not found: gonogo-no-such-tool — install it or fix `run`"


def test_a_missing_program_under_a_shell_is_named_in_the_hint(staging_db):
    result = gate(team("shelled", "gonogo-no-such-tool --check", shell=True), staging_db)
    assert result.verdict is Verdict.FAIL and result.value.startswith("exit 127")
    assert "no such command" in result.hint and "gonogo-no-such-tool" in result.message


def test_a_command_killed_by_a_signal_says_which(staging_db):
    result = gate(team("oom", "kill -KILL $$", shell=True), staging_db)
    assert result.verdict is Verdict.FAIL and result.value.startswith("killed by SIGKILL after ")


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("ignore_term", ["0", "1"], ids=["stops_on_sigterm", "killed_when_ignoring_sigterm"])
def test_a_timeout_stops_the_whole_process_group(staging_db, tmp_path, monkeypatch, ignore_term):
    monkeypatch.setattr(commands_module, "GRACE_SECONDS", 1.0)
    pid_file = tmp_path / "child.pid"
    command = team("hangs", ["./sleep_forever.sh"], timeout_seconds=2,
                   env={"CHILD_PID_FILE": str(pid_file), "IGNORE_TERM": ignore_term})
    started = time.monotonic()
    result = gate(command, staging_db)
    assert time.monotonic() - started < 2 + 1 + 2
    assert result.verdict is Verdict.FAIL and result.value == "timed out after 2 s"
    assert "timed out after 2 s and was stopped" in result.message
    assert "started a child, now waiting" in result.message
    child = int(pid_file.read_text())
    assert not _running(child), "the command's own child outlived the timeout"


# -- the login never shows ----------------------------------------------------------------------

def test_the_password_is_in_the_environment_never_in_argv(staging_db, tmp_path):
    argv_file = tmp_path / "argv"
    result = gate(team("argv", [PY, "show_argv.py"], env={"ARGV_FILE": str(argv_file)}), staging_db)
    assert result.verdict is Verdict.PASS, result.message
    assert "connected as postgres" in result.details[0]["output_tail"]  # the login reached it
    cmdline = argv_file.read_bytes()
    assert b"show_argv.py" in cmdline  # the file is the command's argv ...
    assert staging_db.password.encode() not in cmdline and b"postgresql://" not in cmdline  # ... without the login


@pytest.fixture
def awkward_login(staging_cluster, staging_db):
    """A role whose password percent-encodes differently from itself (@ : / % + space)."""
    role, password = f"team_{os.getpid()}", "p@ss:w/rd %41+x y"
    with staging_cluster.target().connect("tests", guards=None) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    yield dataclasses.replace(staging_db, user=role, password=password)
    with staging_cluster.target().connect("tests", guards=None) as conn:
        conn.execute(f"DROP ROLE {role}")


def test_a_command_printing_its_environment_leaks_neither_password_nor_url(awkward_login):
    logged = []
    script = ("import os, psycopg; print(os.environ['DATABASE_URL']); print(os.environ['PGPASSWORD']);"
              "print(psycopg.connect(os.environ['DATABASE_URL']).info.user)")
    result = gate(team("printenv", [PY, "-c", script]), awkward_login, log=logged.append)
    assert result.verdict is Verdict.PASS, result.message  # the percent-encoded URL logs in
    env_run = gate(team("env", ["env"]), awkward_login, log=logged.append)
    text = written(result) + written(env_run) + "\n".join(logged)
    password = awkward_login.password
    for secret in (password, "p%40ss%3Aw%2Frd%20%2541%2Bx%20y", "p%40ss%3Aw%2Frd+%2541%2Bx+y", "postgresql://"):
        assert secret not in text
    tail = result.details[0]["output_tail"].splitlines()
    assert tail == ["[DATABASE_URL]", "[password]", awkward_login.user]
    assert "PGPASSWORD=[password]" in env_run.details[0]["output_tail"]
    assert "DATABASE_URL=[DATABASE_URL]" in env_run.details[0]["output_tail"]


# -- production is read-only --------------------------------------------------------------------

@pytest.fixture
def production(prod_db):
    with prod_db.connect("tests", guards=None) as conn:
        conn.execute(RECIPE)
    return prod_db


@pytest.mark.parametrize("run", [
    ["./psql_query.sh", "INSERT INTO recipe VALUES (9, 'stew')"],                  # PG* and PGOPTIONS
    [PY, "run_sql.py", "INSERT INTO recipe VALUES (9, 'stew')", "--url-only"],     # the URL's options alone
], ids=["psql", "url_only"])
def test_a_write_from_a_production_command_fails(production, run):
    result = gate(team("writes", run, target="production"), production)
    assert result.verdict is Verdict.FAIL
    assert "cannot execute INSERT in a read-only transaction" in result.message
    assert "on production (read-only)" in result.message
    with production.connect("tests", guards=None) as conn:
        assert conn.execute("SELECT count(*) FROM recipe").fetchone()[0] == 2


def test_a_read_from_a_production_command_works_with_the_guards_set(production):
    settings = ("SELECT count(*), current_setting('default_transaction_read_only'), "
                "current_setting('lock_timeout'), current_setting('statement_timeout') FROM recipe")
    result = gate(team("reads", [PY, "run_sql.py", settings, "--url-only"], target="production"), production)
    assert result.verdict is Verdict.PASS, result.message
    assert result.details[0]["output_tail"].splitlines()[0] == "2\ton\t2s\t5min"


def test_the_same_write_on_staging_goes_through(recipes):
    result = gate(team("writes", [PY, "run_sql.py", "INSERT INTO recipe VALUES (9, 'stew')"]), recipes)
    assert result.verdict is Verdict.PASS, result.message


# -- where it runs and with what -----------------------------------------------------------------

def test_cwd_is_relative_to_the_batch_folder(staging_db, tmp_path):
    batch, app = tmp_path / "batches" / "b1", tmp_path / "app"
    batch.mkdir(parents=True), app.mkdir()
    (app / "marker.txt").write_text("the app's repo\n")
    commands, problems = commands_from_manifest([{"name": "where", "run": "cat marker.txt", "cwd": "../../app"}],
                                                batch)
    assert problems == [] and commands[0].cwd == app
    result = gate(commands[0], staging_db)
    assert result.verdict is Verdict.PASS and result.details[0]["output_tail"] == "the app's repo"


def test_extra_env_reaches_the_command_and_the_workers_database_settings_do_not(staging_db, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_GONOGO_PRODUCTION", "postgresql://prod:secret@prod-host/app")
    monkeypatch.setenv("PGDATABASE", "somewhere_else")
    monkeypatch.setenv("TEAM_KEPT", "from the worker")
    result = gate(team("env", ["env"], env={"NODE_ENV": "test", "PGDATABASE": "ignored"}), staging_db)
    printed = result.details[0]["output_tail"].splitlines()
    assert {"NODE_ENV=test", "TEAM_KEPT=from the worker", f"PGDATABASE={staging_db.dbname}",
            "PGAPPNAME=gonogo/run_1/dry_run/command"} <= set(printed)
    assert not [line for line in printed if line.startswith(("AIRFLOW", "PGOPTIONS"))]


def test_output_is_bounded_to_the_tail_and_long_lines_are_cut(staging_db):
    script = "print('x' * 200_000)\nfor i in range(50_000): print(i)"
    result = gate(team("chatty", [PY, "-c", script]), staging_db)
    tail = result.details[0]["output_tail"].splitlines()
    assert result.details[0]["output_lines"] == 50_001
    assert tail == [str(i) for i in range(50_000 - 40, 50_000)]
    cut = gate(team("wide", [PY, "-c", "print('x' * 200_000 + 'END')"]), staging_db).details[0]["output_tail"]
    assert cut.startswith("x" * 2000 + " … (cut,") and "END" not in cut


# -- the manifest ----------------------------------------------------------------------------------

def test_manifest_entries_become_commands(tmp_path):
    commands, problems = commands_from_manifest([
        {"name": "db_contract", "run": "npm test -- 'tests/integration/db contract.test.ts'", "after": "s1",
         "env": {"NODE_ENV": "test"}},
        {"name": "drift", "run": ["npx", "prisma", "migrate", "diff", "--exit-code"], "target": "production",
         "timeout_seconds": 120},
        {"name": "piped", "run": "pytest tests/db | tee out.txt", "shell": True},
    ], tmp_path, steps=["s1"])
    assert problems == []
    assert commands[0] == Command(name="db_contract", cwd=tmp_path, after="s1", env={"NODE_ENV": "test"},
                                  run=("npm", "test", "--", "tests/integration/db contract.test.ts"))
    assert commands[1].read_only and commands[1].timeout_seconds == 120 and commands[1].after is None
    assert commands[2].run == "pytest tests/db | tee out.txt" and commands[2].shell
    with pytest.raises(ValueError, match="target must be one of staging, production, not 'Production'"):
        Command(name="drift", run=["true"], cwd=tmp_path, target="Production")


def test_manifest_problems_name_the_command_and_the_fix(tmp_path):
    _, problems = commands_from_manifest([
        {"name": "a", "run": "npm test 'unclosed"},
        {"name": "b", "run": ["pytest"], "cwd": "nowhere"},
        {"name": "c", "run": ["pytest"], "target": "prod"},
        {"name": "d", "run": ["pytest"], "env": {"DATABASE_URL": "postgresql://x"}},
        {"name": "e", "run": ["pytest"], "after": "no_such_step"},
        {"name": "f", "run": ["a", "b"], "shell": True},
        {"name": "g", "run": []},
        {"name": "a", "run": ["pytest"]},
        {"run": ["pytest"]},
    ], tmp_path, steps=["s1"])
    assert [p.split(":")[0] for p in problems] == [f"command {n}" for n in "abcdefga"] + ["command #9"]
    assert "unclosed quote" in problems[0]
    assert f"cwd nowhere is not a folder ({tmp_path / 'nowhere'})" in problems[1]
    assert "target: 'prod' is not one of ['staging', 'production']" in problems[2]
    assert "env: 'DATABASE_URL' should not be valid" in problems[3]
    assert "after 'no_such_step' is not a step of this batch" in problems[4]
    assert "shell: true takes `run` as one string" in problems[5]
    assert problems[7] == "command a: another command has this name; rename one"
    assert "'name' is a required property" in problems[8]


def test_the_manifest_schema_describes_commands_as_the_reader_takes_them():
    jsonschema.Draft202012Validator.check_schema(manifest_schema())
    validator = jsonschema.Draft202012Validator(manifest_schema()["properties"]["commands"])
    assert validator.is_valid([{"name": "x", "run": "npm test", "after": "s1", "env": {"CI": "1"}}])
    assert not validator.is_valid([{"name": "x", "run": "npm test", "env": {"PGPASSWORD": "no"}}])
    assert not validator.is_valid([{"name": "x", "run": "npm test", "shel": True}])


def test_a_task_stopped_while_its_command_runs_takes_the_command_with_it(staging_db, tmp_path):
    """Airflow stops a task by raising in it (SIGTERM -> AirflowTaskTerminated); here SIGALRM raises."""
    pid_file = tmp_path / "child.pid"

    class TaskStopped(BaseException):
        pass

    def stop_task(signum, frame):
        raise TaskStopped()

    previous = signal.signal(signal.SIGALRM, stop_task)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(TaskStopped):
            gate(team("hangs", ["./sleep_forever.sh"], env={"CHILD_PID_FILE": str(pid_file)}), staging_db)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert not _running(int(pid_file.read_text()))
