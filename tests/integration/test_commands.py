"""The team's commands as gates: real processes (Python with psycopg, psql, sh, pytest) against
real databases. The commands live in tests/commands, as they would in an app's repository."""

from __future__ import annotations

import jsonschema
import pytest

from gonogo.gates.commands import COMMANDS_SCHEMA, Command, commands_from_manifest


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


def test_the_schema_fragment_is_valid_and_matches_the_manifest_reader():
    jsonschema.Draft202012Validator.check_schema({"type": "object", "properties": {"commands": COMMANDS_SCHEMA}})
    validator = jsonschema.Draft202012Validator(COMMANDS_SCHEMA)
    assert validator.is_valid([{"name": "x", "run": "npm test", "after": "s1", "env": {"CI": "1"}}])
    assert not validator.is_valid([{"name": "x", "run": "npm test", "env": {"PGPASSWORD": "no"}}])
    assert not validator.is_valid([{"name": "x", "run": "npm test", "shel": True}])

