"""Both ends of a foreign key: the locks PostgreSQL 15 takes on the table a statement names and on
the other tables (pg_locks inside BEGIN ... ROLLBACK, tables with rows) equal what lock_taken and
other_locks claim, and what the lint's findings and `plan` say about them."""

from __future__ import annotations

import pytest

from gonogo.authoring.batch_plan import plan_step
from gonogo.batch import Step
from gonogo.lint import KnownSchema, lint_file
from gonogo.lint.lock_taken import REFERENCED_TABLE, lock_taken, node_table, other_locks
from gonogo.postgres.statements import parse_script
from helpers import create_database, drop_database, sql_file, table_locks

SCHEMA = """
CREATE TABLE users (id bigint PRIMARY KEY, email text);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint, buyer_id bigint, total numeric(10,2));
ALTER TABLE orders ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE orders ADD CONSTRAINT orders_buyer_fk FOREIGN KEY (buyer_id) REFERENCES users (id) NOT VALID;
"""
ROWS = """
INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 2000) g;
INSERT INTO orders SELECT g, 1 + g % 2000, 1 + g % 2000, g FROM generate_series(1, 5000) g;
"""

CASES = [
    "ALTER TABLE orders ADD CONSTRAINT orders_user_fk2 FOREIGN KEY (user_id) REFERENCES users (id)",
    "ALTER TABLE orders ADD CONSTRAINT orders_user_fk2 FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID",
    "ALTER TABLE orders VALIDATE CONSTRAINT orders_buyer_fk",      # added NOT VALID: checks users' rows
    "ALTER TABLE orders VALIDATE CONSTRAINT orders_user_id_fkey",  # valid already: a no-op
    "ALTER TABLE orders DROP CONSTRAINT orders_user_id_fkey",
    "ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_buyer_fk",
    "CREATE TABLE payments (id bigint PRIMARY KEY, order_id bigint REFERENCES orders (id))",
    "CREATE TABLE refunds (id bigint, order_id bigint, CONSTRAINT refunds_order_fk FOREIGN KEY (order_id) "
    "REFERENCES orders (id))",
    "ALTER TABLE orders ADD COLUMN seller_id bigint REFERENCES users (id)",
    "ALTER TABLE orders DROP COLUMN user_id",
    "DROP TABLE orders",
    "DROP TABLE users CASCADE",
    "TRUNCATE users CASCADE",
]


@pytest.fixture(scope="module")
def conn(prod_cluster):
    target = create_database(prod_cluster, "othertables")
    with target.connect("tests", guards=None) as conn:
        conn.execute(SCHEMA + ROWS)
        yield conn
    drop_database(prod_cluster, target.dbname)


@pytest.mark.parametrize("statement", CASES)
def test_the_locks_on_both_tables_are_the_ones_claimed(conn, statement):
    node = parse_script(statement)[0].node
    known = KnownSchema.of(parse_script(SCHEMA))
    claimed = {**other_locks(node, known)}
    if lock_taken(node):  # DROP TABLE names its table among its objects
        named = node_table(node) or node.objects[0][-1].sval
        claimed[named] = lock_taken(node)
    measured = table_locks(conn, statement)
    assert {t: m for t, m in measured.items() if t in ("users", "orders")} == claimed


def test_a_drop_of_a_constraint_named_like_a_foreign_key_names_the_lock_on_its_other_table(conn):
    # the ADD is not among what the lint has seen: Prisma's name says it is a foreign key
    statement = "ALTER TABLE orders DROP CONSTRAINT orders_user_id_fkey"
    assert other_locks(parse_script(statement)[0].node) == {REFERENCED_TABLE: "ACCESS EXCLUSIVE"}
    assert table_locks(conn, statement)["users"] == "ACCESS EXCLUSIVE"


def test_findings_and_plan_name_the_referenced_table_and_its_lock(conn, tmp_path):
    forward = sql_file(tmp_path, "ALTER TABLE orders ADD CONSTRAINT orders_user_fk2 FOREIGN KEY (user_id) "
                                 "REFERENCES users (id);\n", name="forward.sql")
    rollback = sql_file(tmp_path, "ALTER TABLE orders DROP CONSTRAINT orders_user_fk2;\n", name="rollback.sql")
    [finding] = [f for f in lint_file(forward, step_kind="constraint", step_enabled=True)
                 if f.key_problem == "validation-scan"]
    measured = table_locks(conn, forward.statements[0].sql)
    assert finding.lock == measured["orders"]
    assert dict(finding.other_locks) == {"users": measured["users"]}
    assert f'it also takes {measured["users"]} on "users"' in finding.message

    step = Step(order=1, kind="constraint", forward=forward, rollback=rollback)
    plan = plan_step(step, tmp_path, KnownSchema.of(parse_script(SCHEMA)))
    [added] = plan.migration.to_dict()["statements"]
    assert (added["table"], added["lock"]) == ("orders", measured["orders"])
    assert [(o["table"], o["lock"]) for o in added["other_locks"]] == [("users", measured["users"])]
    # the rollback drops the constraint the step added: the plan knows it is a foreign key
    conn.execute(forward.statements[0].sql)
    try:
        dropped = table_locks(conn, rollback.statements[0].sql)
    finally:
        conn.execute("ALTER TABLE orders DROP CONSTRAINT orders_user_fk2")
    [drop] = plan.rollback.statements
    assert (drop.table, drop.lock) == ("orders", dropped["orders"])
    assert dict(drop.other_locks) == {"users": dropped["users"]} and drop.blocks_app
