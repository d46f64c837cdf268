"""Loading a batch: the shipped one, and malformed copies of it that must be refused."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from gonogo.batch import SHIPPED_BATCHES, load_batch
from gonogo.errors import BatchError
from gonogo.sqlfile import SQL_DIR

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
    files += [batch.integrity_checks, batch.expected_schema, *(c.file for c in batch.contracts)]
    # 7 forward, 7 rollback, 1 verify, 1 precheck, integrity checks, expected schema, 6 contracts
    assert len(checksums) == len(files) == 24
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
