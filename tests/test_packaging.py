"""The files a team deploys from: pinned requirements, the compose file, the image."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[1]


def pins() -> dict[str, str]:
    found = {}
    for line in (PROJECT / "requirements.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.txt: {line!r} is not pinned with =="
            found[re.sub(r"\[.*\]", "", name).lower().replace("_", "-")] = version
    return found


def test_every_requirement_is_pinned_including_transitive_ones():
    found = pins()
    for top in ("apache-airflow", "apache-airflow-providers-postgres", "apache-airflow-providers-standard",
                "apache-airflow-providers-slack", "apache-airflow-providers-common-sql", "psycopg",
                "slack-sdk", "pglast", "squawk-cli", "pytest", "sqlalchemy", "pydantic"):
        assert top in found, top
    assert found["apache-airflow"].startswith("3.3.")


def test_compose_file_matches_the_compose_spec():
    out = subprocess.run([str(Path(sys.executable).with_name("check-jsonschema")), "--builtin-schema",
                          "vendor.compose-spec", str(PROJECT / "docker-compose.yaml")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_compose_services_depend_only_on_services_that_exist():
    compose = yaml.safe_load((PROJECT / "docker-compose.yaml").read_text())
    services = compose["services"]
    assert {"airflow-apiserver", "airflow-scheduler", "airflow-worker", "redis", "postgres",
            "production", "staging"} <= services.keys()
    assert services["airflow-worker"]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on undefined service {dependency}"
    for name in ("production", "staging"):
        assert "shared_preload_libraries=pg_stat_statements" in services[name]["command"]


def test_the_api_server_reads_the_reports_the_workers_write():
    """The report tab (plugins/gonogo_plugin.py) serves files a worker wrote: same volume, same path."""
    services = yaml.safe_load((PROJECT / "docker-compose.yaml").read_text())["services"]

    def artifacts(name: str) -> tuple[str, str]:
        folder = services[name]["environment"]["GONOGO_ARTIFACTS_DIR"]
        [volume] = [v.split(":")[0] for v in services[name]["volumes"] if v.split(":")[1] == folder]
        return folder, volume

    assert artifacts("airflow-apiserver") == artifacts("airflow-worker")


def test_image_installs_the_versions_requirements_pin():
    found = pins()
    dockerfile = (PROJECT / "Dockerfile").read_text()
    base = re.search(r"FROM apache/airflow:(\S+?)-python", dockerfile)
    assert base and base.group(1) == found["apache-airflow"]
    for name, version in re.findall(r'"([a-z0-9_-]+)(?:\[[a-z]+\])?==([^"]+)"', dockerfile):
        assert found[name.replace("_", "-")] == version, name


def test_pyproject_pins_the_versions_requirements_pin():
    """pip install of the library gets the versions the project is tested with."""
    import tomllib

    found = pins()
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *(d for extra in project["optional-dependencies"].values() for d in extra)]
    pinned = [d for d in wanted if not d.startswith("gonogo[")]
    assert pinned and all("==" in d for d in pinned), pinned
    for dependency in pinned:
        name, version = dependency.split("==")
        assert found[name.lower()] == version, dependency
    assert project["scripts"]["gonogo"] == "gonogo.cli:main"
    assert not any(d.startswith(("apache-airflow", "psycopg", "matplotlib")) for d in project["dependencies"])


def test_the_lint_alone_installs_without_airflow_and_runs_as_the_pre_commit_hook(tmp_path):
    """pip install of the project, no extra: the `gonogo` command lints .sql files as the
    pre-commit hook calls it (its entry, then the staged files), names what a batch needs."""
    from helpers import install_lint_alone

    [hook] = yaml.safe_load((PROJECT / ".pre-commit-hooks.yaml").read_text())
    assert (hook["id"], hook["language"], hook["entry"], hook["types"]) == ("gonogo-lint", "python", "gonogo lint",
                                                                           ["sql"])
    bin_dir, megabytes = install_lint_alone(tmp_path)
    assert megabytes < 100, megabytes  # the target (60 MB) is measured in tests/bench/test_bench_lint_cli.py
    listed = subprocess.run([str(bin_dir / "pip"), "list", "--format", "freeze"], capture_output=True, text=True)
    assert not re.search(r"(?im)^(apache-airflow|psycopg|matplotlib|sqlalchemy)", listed.stdout), listed.stdout

    staged = tmp_path / "repo" / "db"
    staged.mkdir(parents=True)
    (staged / "001_index.sql").write_text("CREATE INDEX issues_owner_idx ON issues (owner_id);\n")
    (staged / "002_safe.sql").write_text("ALTER TABLE issues ADD COLUMN IF NOT EXISTS closed_at timestamptz;\n")
    entry = [str(bin_dir / hook["entry"].split()[0]), *hook["entry"].split()[1:]]
    done = subprocess.run([*entry, "db/001_index.sql", "db/002_safe.sql"], cwd=staged.parent, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "db/001_index.sql:1: error [index-without-concurrently]" in done.stdout
    clean = subprocess.run([*entry, "db/002_safe.sql"], cwd=staged.parent, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    batch = subprocess.run([*entry, str(PROJECT / "include" / "batches" / "20250115_recipe_fixes")],
                           capture_output=True, text=True)
    assert batch.returncode == 2 and "pip install 'gonogo[batch]'" in batch.stderr, batch.stderr
    assert "Traceback" not in batch.stderr
