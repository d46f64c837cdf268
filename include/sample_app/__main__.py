"""python -m sample_app --dsn URL [--scale 1] [--defect NAME ...]: load the recipe app.

The database must exist and be empty; the schema, data and any defects are created in it.
"""

from __future__ import annotations

import argparse

import psycopg

import sample_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sample_app", description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="libpq connection string or URI of an empty database")
    parser.add_argument("--scale", type=float, default=1.0, help="1 = about 100k RecipeItem rows")
    parser.add_argument("--defect", action="append", default=[], choices=sample_app.DEFECTS,
                        help="inject a defect the gates must catch (repeatable)")
    args = parser.parse_args(argv)
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        sample_app.create_schema(conn)
        sample_app.generate(conn, args.scale)
        sample_app.inject_defects(conn, args.defect)
        counts = sample_app.row_counts(conn)
    for table, rows in counts.items():
        print(f"{table:<20} {rows:>10,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
