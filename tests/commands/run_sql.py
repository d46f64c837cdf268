"""Runs one SQL statement through DATABASE_URL and prints the rows, like an app's script would.

usage: run_sql.py SQL [--url-only]
--url-only: drop the PG* variables first, so only what the URL carries applies (a client such
as node-postgres or Prisma reads the URL and not PGOPTIONS).
"""

import os
import sys

import psycopg


def main(statement: str, url_only: bool) -> int:
    if url_only:
        for name in [n for n in os.environ if n.startswith("PG")]:
            del os.environ[name]
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        cur = conn.execute(statement)
        for row in cur.fetchall() if cur.description else ():
            print(*row, sep="\t")
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], "--url-only" in sys.argv[2:]))
