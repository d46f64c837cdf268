"""Objects a batch creates: no gate queries a table before the step that creates it, reports a
table the batch makes as missing, or counts a new table's privileges as unmet; foreign keys on
new objects are measured right before their step, when there is something to measure.

The batch: step 1 adds a sprints table and a column on the existing issue table, with a
backfill that points some issues at sprints that do not exist; step 2 adds the foreign key
(as teams write it: after both tables exist); step 3 makes a new table with a unique key (in
one file, as Prisma writes a new model with @unique)."""

from __future__ import annotations

import pytest
import yaml

from gonogo.batch import load_batch
from gonogo.gates.orphan_integrity import orphan_integrity
from gonogo.gates.privileges import privileges
from gonogo.gates.required_tables import required_tables
from gonogo.apply.steps import apply_step

STEPS = {
    "001_sprints": (
        "CREATE TABLE sprint (id int PRIMARY KEY, name text NOT NULL);\n"
        "INSERT INTO sprint SELECT g, 'sprint ' || g FROM generate_series(1, 5) g;\n"
        "ALTER TABLE issue ADD COLUMN sprint_id int;\n"
        "UPDATE issue SET sprint_id = id % 7 WHERE id <= 70;\n",  # ids 6 and 0 are no sprint
        "ALTER TABLE issue DROP COLUMN sprint_id;\nDROP TABLE sprint;\n"),
    "002_sprint_fk": (
        "ALTER TABLE issue ADD CONSTRAINT issue_sprint_fkey FOREIGN KEY (sprint_id) REFERENCES sprint (id) NOT VALID;\n",
        "ALTER TABLE issue DROP CONSTRAINT issue_sprint_fkey;\n"),
    "003_labels": (
        "CREATE TABLE label (id int PRIMARY KEY, name text NOT NULL, issue_id int REFERENCES issue (id));\n"
        "CREATE UNIQUE INDEX label_name_key ON label (name);\n"
        "ALTER TABLE label ADD CONSTRAINT label_issue_fkey2 FOREIGN KEY (issue_id) REFERENCES issue (id);\n",
        "DROP TABLE label;\n"),
}


@pytest.fixture
def batch(tmp_path):
    folder = tmp_path / "sprints"
    (folder / "migrations").mkdir(parents=True)
    (folder / "rollbacks").mkdir()
    steps = []
    for order, (name, (up, down)) in enumerate(STEPS.items(), start=1):
        (folder / "migrations" / f"{name}.sql").write_text(up)
        (folder / "rollbacks" / f"{name}.sql").write_text(down)
        steps.append({"order": order, "file": f"migrations/{name}.sql", "rollback": f"rollbacks/{name}.sql",
                      "kind": "schema"})
    (folder / "manifest.yaml").write_text(yaml.safe_dump({"id": "sprints", "title": "Sprints", "mode": "transaction",
                                                          "steps": steps}))
    return load_batch("sprints", tmp_path)


@pytest.fixture
def conn(prod_conn):
    prod_conn.execute("CREATE TABLE issue (id int PRIMARY KEY, title text)")
    prod_conn.execute("INSERT INTO issue SELECT g, 'issue ' || g FROM generate_series(1, 200) g")
    return prod_conn


def test_what_the_batch_creates_is_known_step_by_step(batch):
    assert batch.created_tables() == {"sprint": "001_sprints", "label": "003_labels"}
    assert batch.created_columns()[("issue", "sprint_id")] == "001_sprints"
    assert batch.tables_needed() == ["issue"]
    assert {s.mode for s in batch.steps} == {"transaction"}


def test_preflight_gates_do_not_count_the_batchs_own_tables_as_missing_or_forbidden(batch, conn):
    present = required_tables(conn, batch)
    assert present.verdict.value == "PASS" and present.value == "1 of 1 present"
    granted = privileges(conn, batch)
    assert granted.verdict.value == "PASS"
    assert all(row["ok"] for row in granted.details), granted.details
    new = [row for row in granted.details if row["on"] in ("sprint", "label")]
    assert new and all(row["detail"].startswith("created by ") for row in new)
    # before the batch there is nothing to measure for foreign keys on new objects: no orphan check
    assert orphan_integrity(conn, batch) == []


def test_keys_on_new_objects_are_measured_right_before_their_step(batch, conn):
    first = apply_step(conn, batch.steps[0], phase="dry_run", live_traffic=False, log=lambda _: None,
                       check_preconditions=True, batch=batch)
    assert [r.gate for r in first][0] == "step_applied"  # nothing of it to check beforehand: no precondition
    second = apply_step(conn, batch.steps[1], phase="dry_run", live_traffic=False, log=lambda _: None,
                        check_preconditions=True, batch=batch)
    [checked] = second
    assert checked.gate == "orphan_integrity" and checked.failed  # the step was not run
    assert checked.phase == "dry_run" and checked.subject == "002_sprint_fk"
    [row] = checked.details
    assert row["constraint"] == "issue_sprint_fkey" and row["table"] == "issue"
    orphans = conn.execute("SELECT count(*) FROM issue WHERE sprint_id IS NOT NULL AND sprint_id NOT IN "
                           "(SELECT id FROM sprint)").fetchone()[0]
    assert row["orphans"] == orphans == 20  # measured, not guessed: ids with id % 7 in (0, 6)
    # the new table: its unique key not looked for before the table exists (no crash), its foreign
    # keys have no row before their step to be an orphan, and it says so
    third = apply_step(conn, batch.steps[2], phase="dry_run", live_traffic=False, log=lambda _: None,
                       check_preconditions=True, batch=batch)
    assert [r.gate for r in third][:2] == ["orphan_integrity", "step_applied"] and not any(r.failed for r in third)
    assert {r["note"] for r in third[0].details} == {"created by this step: no row before it"}
