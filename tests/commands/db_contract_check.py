"""A team's contract check, as an app repo would have it: the constraint the app relies on
exists. Connects with DATABASE_URL only, as the app does.

usage: db_contract_check.py TABLE CONSTRAINT
"""

import os
import sys

import psycopg


def main(table: str, constraint: str) -> int:
    print(f"checking that {table} has constraint {constraint}", flush=True)
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        found = conn.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                             "WHERE conrelid = to_regclass(%s) AND conname = %s", (table, constraint)).fetchone()
    if found is None:
        print(f"FAIL: constraint {constraint} is missing on {table}: the app's writes would no longer be "
              f"checked; add it back in the migration", flush=True)
        return 1
    print(f"ok: {constraint} {found[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
