"""What the lock trace measures of each table a statement touches, on a real cluster: the rows an
UPDATE or DELETE wrote against the rows its table had (a whole-table write named even when its
WHERE hides it), and the lock on the other end of a foreign key (ADD/DROP FOREIGN KEY)."""

from __future__ import annotations

import pytest

from gonogo.postgres.locktrace import WHOLE_TABLE_RATIO, lock_budget, trace_script, whole_table_writes
from gonogo.reporting.report_sections import lock_holds
from gonogo.results import Verdict
from helpers import sql_file

ORDERS, USERS = 5000, 1000

SCHEMA = f"""
CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL, note text NOT NULL);
INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, {USERS}) g;
INSERT INTO orders SELECT g, g % {USERS} + 1, 'note ' || g FROM generate_series(1, {ORDERS}) g;
"""

# The batched loop the whole_table_write gate's hint gives, filled in: key ranges, a COMMIT each.
BATCHED_LOOP = """DO $$
DECLARE lo bigint := 0; hi bigint;
BEGIN
  LOOP
    SELECT max(id) INTO hi FROM (SELECT id FROM orders WHERE id > lo ORDER BY id LIMIT 1000) AS b;
    EXIT WHEN hi IS NULL;
    UPDATE orders SET note = upper(note) WHERE id > lo AND id <= hi;
    lo := hi;
    COMMIT;
  END LOOP;
END $$;
"""


def quiet(_: str) -> None:
    pass


@pytest.fixture
def db(staging_db):
    with staging_db.connect("tests/setup", guards=None) as conn:
        conn.execute(SCHEMA)
    return staging_db


@pytest.fixture
def conn(db):
    with db.connect("tests/migration") as conn:
        yield conn


def trace(conn, db, tmp_path, text: str, mode: str = "statements"):
    return trace_script(conn, sql_file(tmp_path, text, mode=mode), observer=db, log=quiet)


def writes_at(traced, line: int):
    return [w for s in traced.statements if s.line == line for w in s.writes]


def rows(conn, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# -- rows written against the table ------------------------------------------------------------

HIDDEN = {
    # every row has a note: the WHERE looks bounded and is not
    "filled column": ("UPDATE orders SET note = upper(note) WHERE note IS NOT NULL;\n", ORDERS),
    # the WHERE only joins, and every order has its user
    "join only": ("UPDATE orders o SET note = u.name FROM users u WHERE o.user_id = u.id;\n", ORDERS),
    "all but one": ("DELETE FROM orders WHERE id != 1;\n", ORDERS - 1),
    # the column was just added: every row is NULL
    "new column": ("ALTER TABLE orders ADD COLUMN status text;\n"
                   "UPDATE orders SET status = 'open' WHERE status IS NULL;\n", ORDERS),
}


@pytest.mark.parametrize("shape", list(HIDDEN))
def test_a_hidden_whole_table_write_is_named_with_its_rows(conn, db, tmp_path, shape):
    text, expected = HIDDEN[shape]
    line = text.count("\n")
    before = rows(conn, "orders")
    traced = trace(conn, db, tmp_path, text)
    [write] = writes_at(traced, line)
    assert (write.relation, write.rows, write.table_rows) == ("orders", expected, before)
    assert write.whole_table and not write.batched and not write.more_than
    gate = whole_table_writes([traced], phase="dry_run", subject="step")
    assert gate.verdict is Verdict.WARN
    assert f"line {line}" in gate.message and f"{expected} of {before} rows of orders" in gate.message
    assert "DO-block loop that COMMITs each batch" in gate.hint
    assert any(f"line {line}" in s and "WHOLE-TABLE WRITE" in s for s in traced.summary())


def test_a_bounded_update_is_not_a_whole_table_write(conn, db, tmp_path):
    traced = trace(conn, db, tmp_path, "UPDATE orders SET note = 'x' WHERE id <= 100;\n")
    [write] = writes_at(traced, 1)
    assert write.rows == 100 and not write.whole_table
    # the count stopped at what decides the ratio: it read about 100 / 0.9 rows, not 5000
    assert write.more_than and write.table_rows == int(100 / WHOLE_TABLE_RATIO) + 1
    assert write.ratio < WHOLE_TABLE_RATIO
    gate = whole_table_writes([traced], phase="dry_run", subject="step")
    assert gate.verdict is Verdict.PASS and "WHOLE-TABLE" not in " ".join(traced.summary())


def test_the_threshold_is_decided_on_the_row_either_side(conn, db, tmp_path):
    at = int(ORDERS * WHOLE_TABLE_RATIO)  # 4500 of 5000: 90 %
    traced = trace(conn, db, tmp_path, f"UPDATE orders SET note = 'x' WHERE id <= {at - 1};\n")
    [under] = writes_at(traced, 1)
    assert under.rows == at - 1 and not under.whole_table
    # the count stops once the ratio is decided: a lower bound of the table, an upper one of the share
    assert under.more_than and under.table_rows <= ORDERS and under.ratio < WHOLE_TABLE_RATIO
    traced = trace(conn, db, tmp_path, f"UPDATE orders SET note = 'y' WHERE id <= {at};\n")
    [named] = writes_at(traced, 1)
    assert (named.rows, named.table_rows, named.more_than) == (at, ORDERS, False) and named.whole_table


def test_a_batched_do_loop_is_reported_as_batched_not_as_one_transaction(conn, db, tmp_path):
    traced = trace(conn, db, tmp_path, BATCHED_LOOP)
    [write] = writes_at(traced, 1)
    assert (write.rows, write.table_rows, write.counted_by) == (ORDERS, ORDERS, "statistics")
    assert write.batched and not write.whole_table
    # it really ran as several transactions: the rows carry one xmin per round
    assert conn.execute("SELECT count(DISTINCT xmin::text) FROM orders").fetchone()[0] == ORDERS // 1000
    gate = whole_table_writes([traced], phase="dry_run", subject="step")
    assert gate.verdict is Verdict.PASS and "batched" in gate.value and "batched" in gate.message


def test_a_do_block_without_commit_is_one_transaction(conn, db, tmp_path):
    traced = trace(conn, db, tmp_path, "DO $$ BEGIN UPDATE orders SET note = 'z'; END $$;\n")
    [write] = writes_at(traced, 1)
    assert (write.rows, write.table_rows, write.batched) == (ORDERS, ORDERS, False) and write.whole_table
    assert conn.execute("SELECT count(DISTINCT xmin::text) FROM orders").fetchone()[0] == 1


def test_in_a_one_transaction_file_the_count_takes_no_lock_of_the_migrations(conn, db, tmp_path):
    text = "UPDATE orders SET note = 'x' WHERE note IS NOT NULL;\nDELETE FROM orders WHERE id > 4000;\n"
    traced = trace(conn, db, tmp_path, text, mode="transaction")
    [update] = writes_at(traced, 1)
    assert update.whole_table and (update.rows, update.table_rows) == (ORDERS, ORDERS)
    [delete] = writes_at(traced, 2)
    assert delete.rows == 1000 and not delete.whole_table
    # the DELETE takes nothing the UPDATE did not hold already; the trace's count must not show
    # up as an ACCESS SHARE of it
    assert [h for s in traced.statements if s.line == 2 for h in s.locks] == []


def test_statements_that_write_no_rows_give_no_gate(conn, db, tmp_path):
    traced = trace(conn, db, tmp_path, "CREATE INDEX orders_note ON orders (note);\n"
                                      "UPDATE orders SET note = 'x' WHERE id < 0;\n")
    assert [s.writes for s in traced.statements] == [[], []]
    assert whole_table_writes([traced], phase="dry_run", subject="step") is None


# -- the other end of a foreign key ----------------------------------------------------------

def measured_locks(conn, statement: str, setup: str | None = None) -> set[tuple[str, str]]:
    """(table, mode) this backend holds after the statement, inside a rolled-back transaction."""
    conn.execute("BEGIN")
    try:
        if setup:
            conn.execute(setup)
            conn.execute("SAVEPOINT s")  # the setup's locks stay, but are told apart below
            held = _locks(conn)
            conn.execute(statement)
            return _locks(conn) - held
        conn.execute(statement)
        return _locks(conn)
    finally:
        conn.execute("ROLLBACK")


def _locks(conn) -> set[tuple[str, str]]:
    rows = conn.execute("SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                        "WHERE l.pid = pg_backend_pid() AND c.relkind = 'r' "
                        "AND c.relnamespace = 'public'::regnamespace").fetchall()
    return {(name, mode.replace("Lock", "")) for name, mode in rows}


ADD_FK = "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id)"
DROP_FK = "ALTER TABLE orders DROP CONSTRAINT orders_user_fk"


def test_postgres_locks_the_referenced_table_too(conn):
    """The ground truth the trace is held to (PostgreSQL 15)."""
    assert ("users", "ShareRowExclusive") in measured_locks(conn, ADD_FK)
    assert ("users", "AccessExclusive") in measured_locks(conn, DROP_FK, setup=ADD_FK)


@pytest.mark.parametrize("mode", ["statements", "transaction"])
@pytest.mark.parametrize("statement, referenced_mode", [
    (ADD_FK, "SHARE ROW EXCLUSIVE"),
    (ADD_FK + " NOT VALID", "SHARE ROW EXCLUSIVE"),
    (DROP_FK, "ACCESS EXCLUSIVE"),
])
def test_the_trace_names_the_referenced_tables_lock(conn, db, tmp_path, mode, statement, referenced_mode):
    if statement == DROP_FK:
        conn.execute(ADD_FK)
    truth = measured_locks(conn, statement)
    assert ("users", referenced_mode.title().replace(" ", "")) in truth
    traced = trace(conn, db, tmp_path, statement + ";\n", mode=mode)
    held = {(h.relation, h.mode): h for s in traced.statements for h in s.locks}
    users = held[("users", referenced_mode)]
    assert users.role == "the referenced table of foreign key orders_user_fk on orders"
    assert users.blocks_app
    assert "references users" in held[("orders", referenced_mode)].role
    # the summary lists each table's lock, the referenced one named as such
    [line] = [s for s in traced.summary() if "orders_user_fk" in s and "line" in s]
    assert f"{referenced_mode} on users (the referenced table of foreign key orders_user_fk on orders)" in line
    assert f"{referenced_mode} on orders" in line
    # and so do the lock budget's details and the report's lock section
    gate = lock_budget([traced], budget_seconds=10, phase="dry_run", subject="step")
    assert any(d["relation"] == "users" and d["role"] == users.role for d in gate.details)
    [step] = lock_holds([gate], budget_seconds=10)["steps"]
    rows_by_relation = {row["relation"]: row for row in step["rows"]}
    assert rows_by_relation["users"]["mode"] == referenced_mode
    assert rows_by_relation["users"]["role"] == users.role


def test_a_table_no_foreign_key_links_has_no_role(conn, db, tmp_path):
    traced = trace(conn, db, tmp_path, "ALTER TABLE orders ADD COLUMN extra int;\n")
    holds = [h for s in traced.statements for h in s.locks]
    assert {h.relation for h in holds} == {"orders"} and {h.role for h in holds} == {""}
