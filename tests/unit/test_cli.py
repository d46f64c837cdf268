"""python -m gonogo, run as a migration author runs it: a subprocess, its exit code, stdout and
stderr. Against the shipped batch, broken copies of it, and a freshly scaffolded batch.

Real squawk and pglast, no database: lint and plan read files only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from gonogo.batch import SHIPPED_BATCHES, load_batch
from gonogo.lint import lint_batch
from helpers import copy_batch

BATCH_ID = "20250115_recipe_fixes"
REPO = SHIPPED_BATCHES.parent.parent
INDEXES = "migrations/20250115150000_add_performance_indexes.sql"
CLEANUP = "20250115160002_fix_recipe_category_fields_cleanup"


def gonogo(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    [done] = gonogo_together(args, env=env)
    return done


def gonogo_together(*invocations: tuple[str, ...], env: dict | None = None) -> list[subprocess.CompletedProcess]:
    """Independent invocations, run side by side (each spends its half second importing)."""
    environ = {k: v for k, v in os.environ.items() if k != "GONOGO_BATCHES_DIR"}
    started = [subprocess.Popen([sys.executable, "-m", "gonogo", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=REPO, env={**environ, **(env or {})})
               for args in invocations]
    outputs = [p.communicate(timeout=120) for p in started]
    return [subprocess.CompletedProcess(p.args, p.returncode, *out) for p, out in zip(started, outputs)]


def refused(done: subprocess.CompletedProcess) -> str:
    """A usage or batch error: exit 2, nothing on stdout, one message on stderr, no traceback."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    return done.stderr


# -- lint ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped_lint():
    return gonogo_together(("lint", BATCH_ID), ("lint", BATCH_ID, "--format", "json"))


def test_lint_reports_what_the_dags_lint_gate_finds(shipped_lint):
    text, as_json = shipped_lint
    assert text.returncode == as_json.returncode == 0, text.stderr + as_json.stderr  # warnings only
    document = json.loads(as_json.stdout)
    gate = [(r.subject, d["file"], d["line"], d["rule"], d["level"], d["help"])
            for r in lint_batch(load_batch(BATCH_ID)) for d in r.details]
    assert gate, "the shipped batch has warnings (CREATE TRIGGER's lock, the disabled cleanup's drops)"
    assert [(f["step"], f["file"], f["line"], f["rule"], f["level"], f["help"]) for f in document["findings"]] == gate
    assert document["summary"] == {"steps": 7, "files": 14, "findings": len(gate), "errors": 0, "notes": 0,
                                   "warnings": len(gate), "verdict": "WARN"}
    lines = text.stdout.splitlines()
    for step, file, line, rule, level, help_text in gate:
        # file:line relative to the working directory, so an editor or CI annotation can open it
        assert any(out.startswith(f"include/batches/{BATCH_ID}/{file}:{line}: {level} [{rule}] ")
                   and out.endswith(help_text) for out in lines), (file, line, rule)
    assert lines[-1].endswith(f"0 errors, {len(gate)} warnings, 0 notes): WARN")


def test_lint_exits_1_on_an_error_and_names_file_line_and_fix(tmp_path):
    batch = copy_batch(tmp_path)
    migration = batch / INDEXES
    migration.write_text(migration.read_text().replace("CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_recipe_name_trgm",
                                                       "CREATE INDEX IF NOT EXISTS idx_recipe_name_trgm"))
    done, text = gonogo_together(("lint", str(batch), "--format", "json"),  # BATCH as a folder path
                                 ("lint", BATCH_ID, "--batches-dir", str(batch.parent)))  # as a name
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert document["summary"]["verdict"] == "FAIL" and document["summary"]["errors"] >= 1
    errors = [f for f in document["findings"] if f["level"] == "error"]
    assert {(f["file"], f["line"], f["lock"]) for f in errors} == {(INDEXES, 21, "SHARE")}
    assert all("concurrently" in f["help"].lower() for f in errors)

    assert text.returncode == 1
    assert f"{batch / INDEXES}:21: error [" in text.stdout
    assert text.stdout.rstrip().endswith("stops the rollout on an error")


def test_lint_of_an_unknown_batch_lists_the_known_ones():
    message = refused(gonogo("lint", "20990101_nothing"))
    assert "20990101_nothing" in message and f"known batches: {BATCH_ID}" in message


def test_lint_refuses_a_malformed_manifest(tmp_path):
    batch = copy_batch(tmp_path)
    manifest = yaml.safe_load((batch / "manifest.yaml").read_text())
    manifest["steps"][3]["kind"] = "magic"
    (batch / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    message = refused(gonogo("lint", BATCH_ID, env={"GONOGO_BATCHES_DIR": str(batch.parent)}))
    assert "manifest.schema.json" in message and "manifest.steps[3].kind" in message


# -- plan ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped_plan():
    text, as_json = gonogo_together(("plan", BATCH_ID), ("plan", BATCH_ID, "--format", "json"))
    assert text.returncode == as_json.returncode == 0, text.stderr + as_json.stderr
    return text.stdout, json.loads(as_json.stdout)


def test_plan_lists_the_steps_in_the_dags_order_with_their_files(shipped_plan):
    _text, document = shipped_plan
    batch = load_batch(BATCH_ID)
    steps = document["steps"]
    assert [(s["order"], s["name"], s["kind"], s["enabled"]) for s in steps] == [
        (s.order, s.name, s.kind, s.enabled) for s in batch.steps]
    assert [(s["migration"]["file"], s["rollback"]["file"]) for s in steps] == [
        (str(s.forward.path.relative_to(batch.path)), str(s.rollback.path.relative_to(batch.path)))
        for s in batch.steps]
    cleanup = steps[-1]
    assert cleanup["enabled"] is False and cleanup["disabled_reason"] == batch.steps[-1].disabled_reason
    assert document["summary"]["enabled"] == 6


def test_plan_flags_the_locks_that_make_the_app_wait(shipped_plan):
    text, document = shipped_plan
    by_name = {s["name"]: s for s in document["steps"]}
    checks = by_name["20250115140000_add_check_constraints"]["migration"]["statements"]
    adds = [s for s in checks if "ADD CONSTRAINT" in s["statement"]]
    validates = [s for s in checks if "VALIDATE CONSTRAINT" in s["statement"]]
    assert adds and all(s["lock"] == "ACCESS EXCLUSIVE" and s["blocks_app"]
                        and s["app_waits_for"] == "reads and writes" for s in adds)
    assert validates and all(s["lock"] == "SHARE UPDATE EXCLUSIVE" and not s["blocks_app"] for s in validates)
    assert {s["table"] for s in adds} == {"Recipe", "Ingredient", "RecipeItem"}

    indexes = by_name["20250115150000_add_performance_indexes"]
    assert not indexes["blocks_app"]  # every index is built CONCURRENTLY
    backfill = by_name["20250115160000_fix_recipe_category_fields_backfill"]["backfill"]
    assert [(s["lock"], s["table"], s["blocks_app"]) for s in backfill["statements"]] == [
        ("ROW EXCLUSIVE", "Recipe", False)]

    files = [f for s in document["steps"] for f in (s["migration"], s["rollback"], s["backfill"]) if f]
    flagged = sum(st["blocks_app"] for f in files for st in f["statements"])
    assert flagged and sum(line.startswith("   !") for line in text.splitlines()) == flagged
    assert f"DISABLED: {' '.join(by_name[CLEANUP]['disabled_reason'].split())}" in text


def test_plan_names_the_lock_on_a_foreign_keys_other_table(shipped_plan):
    text, document = shipped_plan
    fks = next(s for s in document["steps"] if s["name"] == "20250115130000_add_missing_foreign_keys_production_safe")
    adds = [s for s in fks["migration"]["statements"] if "FOREIGN KEY" in s["statement"]]
    validates = [s for s in fks["migration"]["statements"] if "VALIDATE" in s["statement"]]
    drops = fks["rollback"]["statements"]
    assert adds and {(s["table"], o["table"], o["lock"]) for s in adds for o in s["other_locks"]} >= {
        ("RecipeItem", "Recipe", "SHARE ROW EXCLUSIVE"), ("Company", "User", "SHARE ROW EXCLUSIVE")}
    assert validates and all([o["lock"] for o in s["other_locks"]] == ["ROW SHARE"] for s in validates)
    # the rollback drops the foreign keys the step added: ACCESS EXCLUSIVE on the referenced tables too
    assert drops and all([(o["lock"], o["app_waits_for"]) for o in s["other_locks"]]
                         == [("ACCESS EXCLUSIVE", "reads and writes")] for s in drops if "DROP CONSTRAINT" in s["statement"])
    also = [line for line in text.splitlines() if line.strip().startswith("also")]
    assert len(also) == sum(len(st["other_locks"]) for s in document["steps"]
                            for f in (s["migration"], s["rollback"], s["backfill"]) if f for st in f["statements"])
    assert any("SHARE ROW EXCLUSIVE" in line and "Recipe " in line for line in also)


def test_plan_enable_plans_a_disabled_step_as_the_dags_enable_steps_does():
    done, wrong = gonogo_together(("plan", BATCH_ID, "--format", "json", "--enable", CLEANUP),
                                  ("plan", BATCH_ID, "--enable", "20250115120000_add_composite_unique_constraints"))
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["summary"]["enabled"] == 7 and CLEANUP in document["summary"]["steps_blocking_app"]
    message = refused(wrong)
    assert f"disabled steps: {CLEANUP}" in message


# -- new-batch -----------------------------------------------------------------------------------

def test_new_batch_scaffolds_a_batch_that_lint_plan_and_the_loader_accept(tmp_path):
    root = tmp_path / "batches"
    root.mkdir()
    done = gonogo("new-batch", "recipe_tags", "--batches-dir", str(root))
    assert done.returncode == 0, done.stderr
    [folder] = root.iterdir()
    assert folder.name[:8].isdigit() and folder.name.endswith("_recipe_tags")

    batch = load_batch(folder.name, root)  # manifest valid against the schema, every file present
    [step] = batch.steps
    assert step.name == f"{folder.name[:8]}120000_recipe_tags" and step.enabled
    assert step.rollback.path == folder / "rollbacks" / f"{step.name}_rollback.sql"
    assert f"python -m gonogo lint {folder}" in done.stdout

    linted, planned = gonogo_together(("lint", folder.name, "--batches-dir", str(root), "--format", "json"),
                                      ("plan", str(folder)))
    assert linted.returncode == 0, linted.stderr
    assert json.loads(linted.stdout)["summary"]["verdict"] == "PASS"
    assert planned.returncode == 0, planned.stderr
    assert f"1. {step.name} (schema)" in planned.stdout

    manifest = (folder / "manifest.yaml").read_text()
    message = refused(gonogo("new-batch", folder.name, "--batches-dir", str(root)))
    assert "already exists" in message and (folder / "manifest.yaml").read_text() == manifest

    step.rollback.path.unlink()
    message = refused(gonogo("lint", str(folder)))
    assert f"rollbacks/{step.name}_rollback.sql does not exist" in message


def test_new_batch_refuses_a_name_off_the_convention(tmp_path):
    for name in ("Recipe-Tags", "20251399_recipe_tags"):
        message = refused(gonogo("new-batch", name, "--batches-dir", str(tmp_path)))
        assert name in message and "YYYYMMDD" in message
    assert not list(tmp_path.iterdir())


def test_help_names_every_command():
    done = gonogo("--help")
    assert done.returncode == 0
    listed = [line.split()[:2] for line in done.stdout.splitlines() if line.startswith("  ")]
    assert [["lint", "PATH..."], ["plan", "BATCH"], ["import", "TOOL"], ["new-batch", "NAME"]] == [
        c for c in listed if c[0] in ("lint", "plan", "import", "new-batch")]
    for command in ("lint", "plan", "import", "new-batch"):
        assert gonogo(command, "--help").returncode == 0
    assert "exit codes" in done.stdout
    lint_help = gonogo("lint", "--help").stdout
    for code in ("0  no error", "1  an error found", "2  a usage error"):
        assert code in lint_help


# -- import ------------------------------------------------------------------------------------------

PRISMA = REPO / "tests" / "corpus" / "prisma" / "tracker" / "prisma" / "migrations"


def test_import_lists_the_tools_migrations_as_gonogo_runs_them_and_writes_a_batch(tmp_path):
    text, as_json = gonogo_together(("import", "prisma", str(PRISMA)),
                                    ("import", "prisma", str(PRISMA), "--format", "json", "--write", str(tmp_path)))
    assert text.returncode == as_json.returncode == 0, text.stderr + as_json.stderr
    assert "prisma: 4 migrations in" in text.stdout
    assert ("  3. 20240301100000_add_labels (schema, runs in one transaction; rollback drafted by gonogo (review it))"
            in text.stdout)
    document = json.loads(as_json.stdout)
    assert [s["name"] for s in document["steps"]][-1] == "20240315080000_issue_estimates"
    folder = tmp_path / document["batch"]
    assert document["written"] == str(folder)
    manifest = yaml.safe_load((folder / "manifest.yaml").read_text())
    assert manifest["source"]["tool"] == "prisma"
    assert manifest["overrides"]["20240301100000_add_labels"] == {
        "rollback": "rollbacks/20240301100000_add_labels.sql", "rollback_drafted": True}
    # the folder it wrote is a batch like any other: it loads, lints, plans; its files are the tool's
    batch = load_batch(folder.name, tmp_path)
    assert batch.steps[0].forward.path == PRISMA / "20240105120000_init" / "migration.sql"
    assert batch.step("20240301100000_add_labels").rollback_source == "drafted by gonogo (review it)"
    linted = gonogo("lint", str(folder))
    assert linted.returncode == 0, linted.stdout + linted.stderr
    message = refused(gonogo("import", "prisma", str(PRISMA), "--write", str(tmp_path)))
    assert "never overwrites" in message


def test_import_names_each_rollback_to_write_with_file_and_line_and_where_it_goes(tmp_path):
    import shutil

    folder = tmp_path / "migrations"
    shutil.copytree(PRISMA, folder)
    renamed = "20240402110000_rename"
    (folder / renamed).mkdir()
    (folder / renamed / "migration.sql").write_text('-- rename\nALTER TABLE "Issue" RENAME COLUMN "body" TO "summary";\n')
    needed = (f"write the rollback for {folder}/{renamed}/migration.sql line 2: "
              'ALTER TABLE "Issue" RENAME COLUMN "body" TO "summary"')
    # without production it cannot know whether that migration is pending: it says so, and where to write it
    listed = gonogo("import", "prisma", str(folder))
    assert listed.returncode == 0, listed.stderr
    assert needed in listed.stdout and "--production-env tells which" in listed.stdout
    assert f"import prisma {folder} --write DIR" in listed.stdout  # a batch folder, not the tool's folder
    written = gonogo("import", "prisma", str(folder), "--write", str(tmp_path / "batches"))
    assert written.returncode == 0 and "save each as rollbacks/<step>.sql in" in written.stdout, written.stdout
    batch_folder = next((tmp_path / "batches").iterdir())
    planned = gonogo("plan", str(batch_folder))
    assert "rollback   none yet, to be written:" in planned.stdout and needed in planned.stdout
    assert "--production-env VAR takes only those production has not applied" in planned.stdout
    (batch_folder / "rollbacks" / f"{renamed}.sql").write_text('ALTER TABLE "Issue" RENAME COLUMN "summary" TO "body";\n')
    planned = gonogo("plan", str(batch_folder))
    assert "none yet" not in planned.stdout and f"rollbacks/{renamed}.sql" in planned.stdout
    as_it_is = gonogo("plan", str(folder))  # the tool's folder itself, as lint takes it (was: no manifest)
    assert as_it_is.returncode == 0 and "rollback   none yet, to be written:" in as_it_is.stdout, as_it_is.stderr


def test_import_refuses_what_is_not_the_tools_layout(tmp_path):
    assert "no Prisma migrations here" in refused(gonogo("import", "prisma", str(tmp_path)))
    assert "no such folder" in refused(gonogo("import", "prisma", str(tmp_path / "nowhere")))
    unknown = gonogo("import", "liquibase", str(tmp_path))
    assert unknown.returncode == 2 and "invalid choice: 'liquibase'" in unknown.stderr
    assert "GONOGO_NOWHERE is not set" in refused(gonogo("import", "prisma", str(PRISMA),
                                                         "--production-env", "GONOGO_NOWHERE"))


# -- lint PATH...: files, folders and tools' folders, no manifest ---------------------------------

DBMATE = REPO / "tests" / "corpus" / "dbmate" / "tracker" / "db" / "migrations"
# hand-written, in the shapes people write: a blocking index, a rename, a safe change
BLOCKING_INDEX = "-- speed up the inbox\nCREATE INDEX issues_owner_idx ON issues (owner_id);\n"
RENAME = "ALTER TABLE issues\n    RENAME COLUMN body TO description;\n"
SAFE = "ALTER TABLE issues ADD COLUMN IF NOT EXISTS closed_at timestamptz;\n"


def written(folder, files: dict[str, str]):
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(text if isinstance(text, bytes) else text.encode())
    return folder


def test_lint_takes_sql_files_folders_and_a_tools_folder_in_one_call(tmp_path):
    import shutil

    plain = written(tmp_path / "sql", {"001_index.sql": BLOCKING_INDEX, "nested/002_rename.sql": RENAME,
                                       "nested/003_safe.sql": SAFE})
    prisma = tmp_path / "prisma" / "migrations"
    shutil.copytree(PRISMA, prisma)
    done = gonogo("lint", str(plain / "001_index.sql"), "--format", "json", str(plain / "nested"), str(prisma))
    assert done.returncode == 1, done.stderr  # the index is an error
    document = json.loads(done.stdout)
    assert [(p["kind"], p["batch"]) for p in document["paths"]] == [("file", None), ("folder", None),
                                                                     ("prisma", None)]
    assert [s["step"] for s in document["steps"]][:3] == ["001_index", "002_rename", "003_safe"]
    assert [s["step"] for s in document["steps"]][3:] == sorted(p.name for p in prisma.iterdir() if p.is_dir())
    by_step = {}
    for f in document["findings"]:
        by_step.setdefault(f["step"], []).append((f["level"], f["rule"], f["line"], f["lock"]))
    assert ("error", "index-without-concurrently", 2, "SHARE") in by_step["001_index"]
    assert ("error", "rename", 1, "ACCESS EXCLUSIVE") in by_step["002_rename"]
    assert "003_safe" not in by_step
    assert document["summary"]["files"] == 3 + len(document["steps"]) - 3
    assert {f["path"] for f in document["findings"] if f["step"] == "001_index"} == {str(plain / "001_index.sql")}


def test_a_file_the_tools_layout_passes_over_is_linted_and_named_not_dropped(tmp_path):
    """golang-migrate runs only <version>_<title>.up.sql: a 002_add_index.sql beside them would
    never run, and used to vanish from the lint without a word (seen on a Go project's folder)."""
    folder = written(tmp_path / "migrations", {
        "001_init.up.sql": "CREATE TABLE issues (id bigint PRIMARY KEY, owner_id bigint, body text);\n",
        "001_init.down.sql": "DROP TABLE issues;\n",
        "002_add_index.sql": BLOCKING_INDEX + RENAME})
    done = gonogo("lint", str(folder), "--format", "json")
    assert done.returncode == 1, done.stdout + done.stderr
    document = json.loads(done.stdout)
    found = {(f["step"], f["rule"], f["line"]) for f in document["findings"]}
    assert {("002_add_index", "not-a-migration", 1), ("002_add_index", "index-without-concurrently", 2),
            ("002_add_index", "rename", 3)} <= found, found
    said = gonogo("import", "golang-migrate", str(folder))
    assert said.returncode == 0 and "Not golang-migrate migrations" in said.stdout and "002_add_index.sql" in said.stdout


def test_lint_reads_a_tools_file_as_the_tool_runs_it(tmp_path):
    """A dbmate file: its down section is the rollback, where dropping what the up section
    created is the file's job. Linted as plain SQL, the DROP TABLE would be an error."""
    folder = tmp_path / "db" / "migrations"
    folder.mkdir(parents=True)
    for path in DBMATE.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    text = ("-- migrate:up\nCREATE TABLE issue_archive (id bigint PRIMARY KEY);\n\n"
            "-- migrate:down\nDROP TABLE issue_archive;\n")
    target = written(folder, {"20240501000000_issue_archive.sql": text}) / "20240501000000_issue_archive.sql"
    alone, plain = gonogo_together(("lint", str(target), "--format", "json"),
                                   ("lint", str(written(tmp_path / "plain", {"x.sql": text})), "--format", "json"))
    assert alone.returncode == 0, alone.stdout + alone.stderr
    document = json.loads(alone.stdout)
    assert document["paths"][0]["kind"] == "dbmate"
    assert document["steps"] == [{"step": target.stem, "files": [str(target), str(target)], "verdict": "PASS"}]
    assert plain.returncode == 1
    assert [(f["rule"], f["line"]) for f in json.loads(plain.stdout)["findings"]
            if f["level"] == "error"] == [("ban-drop-table", 5)]


def test_lint_options_go_before_the_command_and_between_paths(tmp_path):
    batch = copy_batch(tmp_path)
    plain = written(tmp_path / "sql", {"a.sql": BLOCKING_INDEX, "b.sql": RENAME})
    before, between = gonogo_together(("--batches-dir", str(batch.parent), "--format", "json", "lint", BATCH_ID),
                                      ("lint", str(plain / "a.sql"), "--format", "json", str(plain / "b.sql")))
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout)["batch"] == BATCH_ID
    assert between.returncode == 1, between.stderr
    assert [s["step"] for s in json.loads(between.stdout)["steps"]] == ["a", "b"]


def test_lint_summarises_robustness_notes_and_lists_them_with_notes(tmp_path):
    plain = written(tmp_path / "sql", {"notes.sql": "ALTER TABLE issues ADD COLUMN closed_at timestamptz;\n"})
    summary, listed = gonogo_together(("lint", str(plain)), ("lint", str(plain), "--notes"))
    assert summary.returncode == listed.returncode == 0  # notes never fail the lint
    assert "1 robustness note: " in summary.stdout and "--notes lists them" in summary.stdout
    assert f"{plain / 'notes.sql'}:1: note [prefer-robust-stmts]" not in summary.stdout
    assert f"{plain / 'notes.sql'}:1: note [prefer-robust-stmts]" in listed.stdout


# SARIF 2.1.0's required properties and enums (sarif-schema-2.1.0.json, OASIS), for what gonogo writes.
_REGION = {"type": "object", "required": ["startLine"], "properties": {"startLine": {"type": "integer", "minimum": 1}}}
_PHYSICAL = {"type": "object", "required": ["artifactLocation", "region"],
             "properties": {"artifactLocation": {"type": "object", "required": ["uri"]}, "region": _REGION}}
_RESULT = {"type": "object", "required": ["message", "ruleId", "level", "locations"], "properties": {
    "level": {"enum": ["none", "note", "warning", "error"]},
    "message": {"type": "object", "required": ["text"]},
    "ruleIndex": {"type": "integer", "minimum": 0},
    "locations": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["physicalLocation"], "properties": {"physicalLocation": _PHYSICAL}}}}}
_DRIVER = {"type": "object", "required": ["name"],
           "properties": {"rules": {"type": "array", "items": {"type": "object", "required": ["id"]}}}}
SARIF_REQUIRED = {"type": "object", "required": ["version", "runs"], "properties": {
    "version": {"const": "2.1.0"},
    "runs": {"type": "array", "items": {"type": "object", "required": ["tool"], "properties": {
        "tool": {"type": "object", "required": ["driver"], "properties": {"driver": _DRIVER}},
        "results": {"type": "array", "items": _RESULT}}}}}}


def test_lint_writes_sarif_github_annotations_and_gitlab_code_quality(tmp_path):
    import re

    import jsonschema

    plain = written(tmp_path / "sql", {"a.sql": BLOCKING_INDEX + "ALTER TABLE t ADD COLUMN c int;\n",
                                       "b.sql": RENAME, "c.sql": "UPDATE t SET c = 1;\n"})
    as_json, sarif, github, gitlab = gonogo_together(*(("lint", str(plain), "--format", form)
                                                       for form in ("json", "sarif", "github", "gitlab")))
    assert {as_json.returncode, sarif.returncode, github.returncode, gitlab.returncode} == {1}
    findings = json.loads(as_json.stdout)["findings"]
    assert {f["level"] for f in findings} == {"error", "warning", "note"}
    expected = [(f["path"], f["line"], f["rule"], f["level"]) for f in findings]

    document = json.loads(sarif.stdout)
    jsonschema.validate(document, SARIF_REQUIRED)
    [run] = document["runs"]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert [(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
             r["locations"][0]["physicalLocation"]["region"]["startLine"], r["ruleId"], r["level"])
            for r in run["results"]] == expected
    assert all(rules[r["ruleIndex"]] == r["ruleId"] for r in run["results"])

    command = re.compile(r"^::(error|warning|notice) file=([^,]+),line=(\d+),title=gonogo ([\w-]+)::(.+)$")
    lines = [command.match(line) for line in github.stdout.splitlines()]
    assert all(lines), github.stdout
    assert [(m[2], int(m[3]), m[4], {"notice": "note"}.get(m[1], m[1])) for m in lines] == expected

    issues = json.loads(gitlab.stdout)
    assert [(i["location"]["path"], i["location"]["lines"]["begin"], i["check_name"],
             {"critical": "error", "minor": "warning", "info": "note"}[i["severity"]]) for i in issues] == expected
    assert all(i["description"] for i in issues)
    assert len({i["fingerprint"] for i in issues}) == len(issues)


# -- lint: input it cannot read ------------------------------------------------------------------

FUNCTION_WITH_A_TYPO = """\
CREATE TABLE audit (id bigint);
CREATE OR REPLACE FUNCTION audit_issue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- WHERE in a comment is not the error
  IF NEW.status = 'closed' THEN
    INSERT INTO audit (id) VALUES (NEW.id) WHERE;
  END IF;
  RETURN NEW;
END;
$$;
"""
DO_WITH_A_TYPO = "SELECT 1;\nDO $$\nBEGIN\n  PERFORM 1;\n  UPDAT issues SET x = 1;\nEND $$;\n"


@pytest.mark.parametrize("name, content, line, says", [
    ("latin1.sql", "SELECT 1;\n-- café\nSELECT 2;\n".encode("latin-1"), 2, "is not UTF-8"),
    ("function.sql", FUNCTION_WITH_A_TYPO, 6, "the function's body does not parse"),
    ("do_block.sql", DO_WITH_A_TYPO, 5, "the DO block's body does not parse"),
    ("empty.sql", "", 1, "an empty migration is most likely a mistake"),
    ("comments.sql", "-- TODO: the migration\n", 1, "an empty migration is most likely a mistake"),
])
def test_lint_names_file_and_line_of_input_it_cannot_read(tmp_path, name, content, line, says):
    path = written(tmp_path, {name: content}) / name
    message = refused(gonogo("lint", str(path)))
    assert message.count("\n") == 1 and message.startswith(f"gonogo lint: {path} line {line}: "), message
    assert says in message


def test_lint_reads_a_file_as_a_plain_file_beside_another_projects_folders(tmp_path):
    # The file's grandparent (a temp dir, a monorepo) holds a folder that looks like a Prisma
    # migration and one that does not: the file is none of Prisma's migrations, linted on its own.
    written(tmp_path, {"20240101_x/migration.sql": "SELECT 1;\n", "notes/readme.txt": "",
                       "mine/rename.sql": "ALTER TABLE t RENAME COLUMN a TO b;\n"})
    done = gonogo("lint", str(tmp_path / "mine" / "rename.sql"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[rename]" in done.stdout and "Prisma" not in done.stderr


def test_lint_refuses_a_file_larger_than_it_reads_at_once(tmp_path):
    from gonogo.lint.paths import MAX_BYTES

    path = tmp_path / "seed.sql"
    row = "INSERT INTO country (id, name) VALUES (1, 'a country of the seed data');\n"
    path.write_text(row * (50 * 2**20 // len(row)))  # 50 MB
    assert path.stat().st_size > MAX_BYTES
    message = refused(gonogo("lint", str(path)))
    assert message.count("\n") == 1 and message.startswith(f"gonogo lint: {path} line 1: 50 MB, more than")


def test_a_plain_folders_down_files_are_linted_as_rollbacks(tmp_path):
    """diesel's <migration>/up.sql and down.sql: dropping in down.sql what up.sql added is the
    rollback's job, not a drop-column error; each step is named by its migration's folder."""
    folder = written(tmp_path / "migrations", {
        "2020-01-01-000000_add_slug/up.sql": SAFE,
        "2020-01-01-000000_add_slug/down.sql": "ALTER TABLE issues DROP COLUMN closed_at;\n"})
    done = gonogo("lint", str(folder), "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(done.stdout)
    assert [s["step"] for s in document["steps"]] == ["2020-01-01-000000_add_slug/down", "2020-01-01-000000_add_slug/up"]
    assert not [f for f in document["findings"] if f["level"] == "error"], document["findings"]
