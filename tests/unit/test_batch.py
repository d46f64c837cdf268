"""Loading a batch: the shipped one, and malformed copies of it that must be refused."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from gonogo.batch import SHIPPED_BATCHES, load_batch
from gonogo.errors import BatchError
from gonogo.postgres.sqlfile import SQL_DIR

BATCH_ID = "20250115_recipe_fixes"
SHIPPED = SHIPPED_BATCHES / BATCH_ID

# The seed's checklist, "Migration Files" and "Next Steps", in the order it applies them.
SEED_FILES = [
    "20250115120000_add_composite_unique_constraints.sql",
    "20250115130000_add_missing_foreign_keys_production_safe.sql",
    "20250115140000_add_check_constraints.sql",
    "20250115150000_add_performance_indexes.sql",
    "20250115160000_fix_recipe_category_fields_backfill.sql",
    "20250115160001_fix_recipe_category_fields_cutover.sql",
    "20250115160002_fix_recipe_category_fields_cleanup.sql",
]


# -- the shipped batch -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def batch():
    return load_batch(BATCH_ID)


def test_shipped_batch_has_the_seeds_seven_steps_in_order(batch):
    assert batch.id == BATCH_ID
    assert [s.forward.path.name for s in batch.steps] == SEED_FILES
    assert [s.order for s in batch.steps] == [1, 2, 3, 4, 5, 6, 7]
    assert [s.name for s in batch.enabled_steps] == [f.removesuffix(".sql") for f in SEED_FILES[:6]]


def test_cleanup_step_is_disabled_with_a_reason(batch):
    cleanup = batch.steps[-1]
    assert cleanup.kind == "cleanup"
    assert cleanup.enabled is False
    assert "week" in cleanup.disabled_reason
    assert all(s.enabled for s in batch.steps[:-1])


def test_every_step_has_its_own_rollback_file(batch):
    for step in batch.steps:
        assert step.rollback.path.is_file(), step.name
        assert step.rollback.path.parent.name == "rollbacks"
        assert step.rollback.path.name == f"{step.name}_rollback.sql"
        assert step.rollback.statements, step.name


def test_checksums_are_sha256_of_the_file_bytes(batch):
    checksums = batch.checksums()
    files = [f for s in batch.steps for f in (s.forward, s.rollback, s.verify, s.precheck) if f]
    files += [s.backfill.batch for s in batch.steps if s.backfill]
    files += [batch.integrity_checks, batch.expected_schema, *(c.file for c in batch.contracts)]
    # 7 forward, 7 rollback, 1 verify, 1 precheck, 1 backfill batch, integrity checks, expected
    # schema, 6 contracts
    assert len(checksums) == len(files) == 25
    for rel, digest in checksums.items():
        assert digest == hashlib.sha256((SHIPPED / rel).read_bytes()).hexdigest(), rel


# -- malformed copies --------------------------------------------------------------------------

@pytest.fixture
def copy(tmp_path) -> Path:
    """The shipped batch copied under tmp_path/batches/, with include/sql beside it so that the
    manifest's relative integrity_checks path resolves as it does in the repo."""
    root = tmp_path / "batches"
    shutil.copytree(SHIPPED, root / BATCH_ID)
    shutil.copytree(SQL_DIR, tmp_path / "sql")
    shutil.copytree(SHIPPED_BATCHES.parent / "sample_app", tmp_path / "sample_app")  # schema, queries
    return root / BATCH_ID


def _manifest(folder: Path) -> dict:
    return yaml.safe_load((folder / "manifest.yaml").read_text())


def _write_manifest(folder: Path, manifest: dict) -> None:
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))


def _refused(folder: Path) -> str:
    with pytest.raises(BatchError) as caught:
        load_batch(folder.name, root=folder.parent)
    return str(caught.value)


def test_an_unbroken_copy_loads(copy):
    # The control for every case below: only the one thing each breaks makes it fail.
    batch = load_batch(BATCH_ID, root=copy.parent)
    assert [s.forward.path.name for s in batch.steps] == SEED_FILES
    assert batch.integrity_checks is not None


def test_missing_manifest(copy):
    (copy / "manifest.yaml").unlink()
    message = _refused(copy)
    assert str(copy / "manifest.yaml") in message and "no manifest" in message


def test_invalid_yaml(copy):
    (copy / "manifest.yaml").write_text("id: x\nsteps: [\n  - order: 1\n")
    message = _refused(copy)
    assert "manifest.yaml" in message and "not valid YAML" in message


def test_schema_violations_say_where(copy):
    manifest = _manifest(copy)
    manifest["steps"][2]["timeout"] = "5s"       # no such key
    manifest["steps"][4]["kind"] = "magic"       # not one of the kinds
    _write_manifest(copy, manifest)
    message = _refused(copy)
    assert "manifest.yaml" in message and "manifest.schema.json" in message
    assert "manifest.steps[2]" in message and "'timeout' was unexpected" in message
    assert "manifest.steps[4].kind" in message and "'magic'" in message


def test_missing_rollback_file(copy):
    rollback = copy / "rollbacks" / "20250115140000_add_check_constraints_rollback.sql"
    rollback.unlink()
    message = _refused(copy)
    assert "step 3 (20250115140000_add_check_constraints.sql) rollback" in message
    assert "rollbacks/20250115140000_add_check_constraints_rollback.sql does not exist" in message


def test_sql_syntax_error_names_file_and_line(copy):
    path = copy / "migrations" / "20250115160001_fix_recipe_category_fields_cutover.sql"
    lines = path.read_text().splitlines()
    broken = next(i for i, line in enumerate(lines) if "VALIDATE CONSTRAINT" in line)
    lines[broken] = lines[broken].replace("VALIDATE CONSTRAINT", "VALIDATE CONSTRAIN")
    path.write_text("\n".join(lines) + "\n")
    message = _refused(copy)
    assert f"migrations/{path.name} line {broken + 1}:" in message
    assert "syntax error" in message


def test_duplicate_order(copy):
    manifest = _manifest(copy)
    manifest["steps"][1]["order"] = 1
    _write_manifest(copy, manifest)
    message = _refused(copy)
    assert "orders must be unique" in message and "[1, 1, 3, 4, 5, 6, 7]" in message
    assert str(copy / "manifest.yaml") in message


def test_id_must_equal_the_folder_name(copy):
    renamed = copy.with_name("20250116_other")
    copy.rename(renamed)
    message = _refused(renamed)
    assert f"id '{BATCH_ID}' differs from the folder name '20250116_other'" in message


def test_disabled_step_needs_a_reason(copy):
    manifest = _manifest(copy)
    del manifest["steps"][6]["disabled_reason"]
    _write_manifest(copy, manifest)
    message = _refused(copy)
    assert "step 7 (20250115160002_fix_recipe_category_fields_cleanup.sql) is disabled" in message
    assert "disabled_reason" in message


def test_several_problems_are_reported_together(copy):
    (copy / "rollbacks" / "20250115130000_add_missing_foreign_keys_production_safe_rollback.sql").unlink()
    (copy / "migrations" / "20250115150000_add_performance_indexes.sql").write_text("CREATE INDEXX i ON t (a);\n")
    manifest = _manifest(copy)
    del manifest["steps"][6]["disabled_reason"]
    _write_manifest(copy, manifest)
    message = _refused(copy)
    problems = [line for line in message.splitlines() if line.startswith("  - ")]
    assert len(problems) == 3, message
    assert "add_missing_foreign_keys_production_safe_rollback.sql does not exist" in message
    assert "20250115150000_add_performance_indexes.sql line 1:" in message
    assert "is disabled: say why" in message


def test_checksum_is_of_the_bytes_on_disk_also_with_crlf_line_ends(copy):
    path = copy / "migrations" / "20250115160001_fix_recipe_category_fields_cutover.sql"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    batch = load_batch(BATCH_ID, root=copy.parent)
    rel = f"migrations/{path.name}"
    assert batch.checksums()[rel] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [s.line for s in batch.steps[5].forward.statements] == [5, 14]


# -- the backfill of a step --------------------------------------------------------------------

BACKFILL_BATCH = "backfill/20250115160000_fix_recipe_category_fields_backfill_batch.sql"


def test_the_backfill_step_names_its_table_key_column_and_batch_file(batch):
    [step] = [s for s in batch.steps if s.backfill]
    assert step.order == 5 and step.kind == "backfill"
    spec = step.backfill
    assert (spec.table, spec.key, spec.column) == ("Recipe", "id", "categoryId")
    assert (spec.batch_size, spec.pause_ms, spec.vacuum_after) == (500, 0, True)
    assert spec.batch.path == SHIPPED / BACKFILL_BATCH
    assert [s.kind for s in spec.batch.statements] == ["UpdateStmt"]
    assert "%(from_key)s" in spec.query and "%(to_key)s" in spec.query
    # the step's file keeps the dual-write trigger; its backfill loop moved to the batch file
    assert [s.kind for s in step.forward.statements] == ["CreateFunctionStmt", "CreateTrigStmt", "DoStmt"]
    assert not any(n.__class__.__name__ == "UpdateStmt" for s in step.forward.statements for n in s.nodes())


def _break_backfill(copy: Path, sql: str | None = None, drop: tuple[str, ...] = (), **changes) -> str:
    """The refusal of a copy whose step 5 has another batch file, or backfill fields dropped or changed."""
    if sql is not None:
        (copy / BACKFILL_BATCH).write_text(sql)
    if drop or changes:
        manifest = _manifest(copy)
        fields = manifest["steps"][4]["backfill"]
        fields.update(changes)
        for name in drop:
            del fields[name]
        _write_manifest(copy, manifest)
    return _refused(copy)


WHERE = 'WHERE r."id" > %(from_key)s AND r."id" <= %(to_key)s AND c."name" = r."category"'
MAPS = f'UPDATE "Recipe" r SET "categoryId" = c."id" FROM "Category" c {WHERE}'
WHAT = f"step 5 (20250115160000_fix_recipe_category_fields_backfill.sql) backfill: {BACKFILL_BATCH}"


@pytest.mark.parametrize(("sql", "expected"), [
    (f"{MAPS};\n{MAPS};", "must hold exactly one UPDATE (each batch runs it once, in a transaction of its own), "
                          "found UpdateStmt, UpdateStmt"),
    ("SELECT 1 WHERE %(from_key)s < %(to_key)s;", "must hold exactly one UPDATE"),
    (f'UPDATE "Category" c SET "name" = c."name" FROM "Recipe" r {WHERE};',
     'updates "Category", not the backfill\'s table "Recipe"'),
    (f'UPDATE "Recipe" r SET "categoryId" = c."id", "updatedAt" = now() FROM "Category" c {WHERE};',
     'sets "categoryId", "updatedAt"; it may set only "categoryId": every other column is proven unchanged'),
    (MAPS.replace("%(from_key)s", "0") + ";", "has no %(from_key)s: the runner binds each batch's key range to "
     '%(from_key)s and %(to_key)s; write one UPDATE "Recipe" SET "categoryId" = ... WHERE "id" > %(from_key)s AND '
     '"id" <= %(to_key)s AND ...'),
    (MAPS.replace("%(from_key)s", "0").replace("%(to_key)s", "1000") + ";", "has no %(from_key)s and no %(to_key)s"),
    (MAPS.replace("%(to_key)s", "%(upto)s") + ";", "uses %(upto)s: only %(from_key)s and %(to_key)s are bound"),
    # found by PostgreSQL's scanner: a parameter in a comment or a string is not one
    ("-- r.\"id\" > %(from_key)s\n" + MAPS.replace('r."id" > %(from_key)s', "r.\"name\" <> '%(from_key)s'") + ";",
     "has no %(from_key)s"),
    (MAPS.replace("SET", "SETT") + ";", "line 1: syntax error at or near"),
], ids=["two statements", "not an update", "another table", "another column", "no from_key",
        "no parameters", "unknown parameter", "parameter in a comment", "syntax error"])
def test_a_bad_backfill_batch_file_is_refused(copy, sql, expected):
    message = _break_backfill(copy, sql)
    assert f"{WHAT} {expected}" in message, message


def test_the_backfill_batch_file_must_exist(copy):
    (copy / BACKFILL_BATCH).unlink()
    assert f"{WHAT} does not exist" in _refused(copy)


def test_backfill_fields_are_checked_against_the_manifest_format(copy):
    message = _break_backfill(copy, drop=("key",), batch_size=0, pause="20ms")
    assert "manifest.steps[4].backfill: 'key' is a required property" in message
    assert "manifest.steps[4].backfill.batch_size: 0 is less than the minimum of 1" in message
    assert "manifest.steps[4].backfill: Additional properties are not allowed ('pause' was unexpected)" in message


def test_vacuum_after_false_is_read_from_the_manifest(copy):
    manifest = _manifest(copy)
    manifest["steps"][4]["backfill"]["vacuum_after"] = False
    _write_manifest(copy, manifest)
    assert load_batch(BATCH_ID, root=copy.parent).steps[4].backfill.vacuum_after is False


def test_a_percent_sign_in_a_comment_is_sent_as_it_is(copy):
    (copy / BACKFILL_BATCH).write_text(f"-- maps 100 % of the rows\n{MAPS};\n")
    spec = load_batch(BATCH_ID, root=copy.parent).steps[4].backfill
    assert spec.query.startswith("-- maps 100 %% of the rows\n")  # psycopg sends "100 %"
    assert spec.query.count("%(from_key)s") == spec.query.count("%(to_key)s") == 1



@pytest.mark.parametrize("value, why", [
    ("0", "0 means wait forever in PostgreSQL"), ("0ms", "0 means wait forever in PostgreSQL"),
    ("", "it is empty"), ("forever", "it is not a duration"), ("5ms", "it is below the floor"),
    ("2h", "it is above the ceiling")])
def test_a_timeout_outside_its_range_is_refused_everywhere_with_the_range(value, why, tmp_path):
    from gonogo.postgres.target import SessionGuards
    from gonogo.postgres.timeouts import TimeoutSettingError

    with pytest.raises(TimeoutSettingError) as raised:
        SessionGuards(lock_timeout=value)
    assert why in str(raised.value) and "give a value from 10ms to 5min (default 2s)" in str(raised.value)
    assert str(raised.value).startswith("session timeouts: lock_timeout = ")


def test_a_steps_lock_timeout_of_0_is_a_problem_of_the_manifest(tmp_path):
    folder = tmp_path / "forever"
    (folder / "migrations").mkdir(parents=True)
    (folder / "migrations/a.sql").write_text("ALTER TABLE t ADD COLUMN c int;\n")
    (folder / "migrations/a_rollback.sql").write_text("ALTER TABLE t DROP COLUMN c;\n")
    (folder / "manifest.yaml").write_text(
        "id: forever\ntitle: t\nsteps: [{order: 1, file: migrations/a.sql, rollback: migrations/a_rollback.sql, "
        "kind: schema, lock_timeout: '0'}]\n")
    with pytest.raises(BatchError, match=r"step 1 \(a.sql\): lock_timeout = '0' is not allowed: 0 means wait "
                                         r"forever in PostgreSQL"):
        load_batch("forever", root=tmp_path)


def test_the_trigger_form_refuses_a_timeout_of_0_and_says_the_range():
    from airflow.sdk import Param

    from gonogo_airflow.params import ROLLOUT_PARAMS

    for name in ("lock_timeout", "lock_attempt_timeout", "statement_timeout"):
        param = ROLLOUT_PARAMS[name]
        with pytest.raises(Exception, match="does not match"):
            Param(param.value, **param.schema).resolve("0")
        assert Param(param.value, **param.schema).resolve("250ms") == "250ms"
        assert "From " in param.description


def _manifest_batch(tmp_path, manifest: str, sql: str = "ALTER TABLE t ADD COLUMN c int;\n"):
    folder = tmp_path / "limits"
    (folder / "migrations").mkdir(parents=True, exist_ok=True)
    (folder / "migrations/a.sql").write_text(sql)
    (folder / "migrations/a_rollback.sql").write_text("ALTER TABLE t DROP COLUMN c;\n")
    (folder / "manifest.yaml").write_text(manifest)
    return folder


STEP = "steps: [{order: 1, file: migrations/a.sql, rollback: migrations/a_rollback.sql, kind: schema}]\n"


def test_a_yaml_alias_bomb_is_refused_at_once_with_its_line(tmp_path):
    import time

    bomb = "".join(f"l{n}: &l{n} [" + ",".join([f"*l{n - 1}"] * 9) + "]\n" for n in range(1, 10))
    _manifest_batch(tmp_path, "id: limits\ntitle: t\n" + STEP + "x0: &l0 [lol]\n" + bomb)
    started = time.monotonic()
    with pytest.raises(BatchError, match=r"manifest.yaml line 5: manifest is not valid YAML: an alias \(\*name\) "
                                         r"is not allowed"):
        load_batch("limits", root=tmp_path)
    assert time.monotonic() - started < 1


def test_inputs_larger_than_their_limits_are_refused_with_what_to_do(tmp_path):
    from gonogo.authoring.limits import MAX_SQL_BYTES, MAX_YAML_BYTES

    folder = _manifest_batch(tmp_path, "id: limits\ntitle: " + "x" * 201 + "\n" + STEP)
    with pytest.raises(BatchError, match=r"manifest\.title: 'x+' is too long"):
        load_batch("limits", root=tmp_path)
    (folder / "manifest.yaml").write_text("id: limits\ntitle: t\n" + STEP + "required_tables: [" + "a" * 20_000 + "]\n")
    with pytest.raises(BatchError, match=r"manifest\.required_tables\[0\]: 20,000 characters, more than the 10,000"):
        load_batch("limits", root=tmp_path)
    (folder / "manifest.yaml").write_text("id: limits\ntitle: t\n" + STEP + "#" * MAX_YAML_BYTES + "\n")
    with pytest.raises(BatchError, match=r"manifest.yaml line 1: 1,048,6\d\d bytes, more than the 1 MB a manifest may be"):
        load_batch("limits", root=tmp_path)
    (folder / "manifest.yaml").write_text("id: limits\ntitle: t\n" + STEP)
    (folder / "migrations/a.sql").write_text("-- padding\n" * (MAX_SQL_BYTES // 11 + 1))
    with pytest.raises(BatchError, match=r"a.sql line 1: 5,242,8\d\d bytes, more than the 5 MB a SQL file may be; a migration "
                                         r"that large is a data load"):
        load_batch("limits", root=tmp_path)


def test_a_batch_imported_from_a_tool_folder_is_not_drawn_and_says_where_it_runs(tmp_path):
    """`import --write` makes a manifest whose migrations are the tool folder's, read at each run:
    too slow to read at parse time, so no DAG of its own (a user was shown a link to one that did
    not exist) and the reason names the DAG that rolls it out. A batch listing its steps is drawn."""
    from gonogo.batches import outlines
    from gonogo.tools.imported import import_batch, write_batch_folder

    folder = Path(__file__).resolve().parents[1] / "corpus" / "prisma" / "tracker" / "prisma" / "migrations"
    written = write_batch_folder(import_batch("prisma", folder), tmp_path)
    shutil.copytree(SHIPPED_BATCHES / "20250115_recipe_fixes", tmp_path / "20250115_recipe_fixes")
    drawn, not_drawn = outlines(tmp_path)
    assert [o.id for o in drawn] == ["20250115_recipe_fixes"]
    [problem] = not_drawn
    assert problem.startswith(str(written / "manifest.yaml"))
    assert "read from the prisma folder at each run" in problem and "roll it out from gonogo_rollout" in problem
