"""ALTER COLUMN ... TYPE that rewrites the table under ACCESS EXCLUSIVE.

A change PostgreSQL makes without a rewrite (varchar -> text, a longer varchar, numeric with
more precision at the same scale, ...: gonogo.lint.type_change) is no finding: it takes
ACCESS EXCLUSIVE only for the catalog change, as ADD COLUMN does (measured on 1 000 000
rows with an index on the column: varchar(100) -> text 2-6 ms, numeric(10,2) -> numeric(12,2)
1 ms, ADD COLUMN 1-3 ms; int -> bigint, a rewrite, 3-4 s), and squawk's
changing-column-type is dropped for it (squawk.py). Where the lint has not seen the column's
current type and the new type is one that some types convert to for free, it says so: a
warning, "rewrites the table unless the column is now ...", not an error.
"""

from __future__ import annotations

from pglast import enums
from pglast.stream import RawStream

from gonogo.lint.finding import ERROR, WARNING, Finding
from gonogo.lint.script import Script

# the expand half of the fix: the new column, and its backfill in batches that each commit
FIX = ('ALTER TABLE "Recipe" ALTER COLUMN "servings" TYPE bigint',
       'ALTER TABLE "Recipe" ADD COLUMN IF NOT EXISTS "servings_new" bigint;\n'
       'DO $$\n'
       'DECLARE\n'
       '    last bigint := 0;\n'
       '    top bigint := (SELECT coalesce(max("id"), 0) FROM "Recipe");\n'
       'BEGIN\n'
       '    WHILE last < top LOOP\n'
       '        UPDATE "Recipe" SET "servings_new" = "servings" WHERE "id" > last AND "id" <= last + 1000;\n'
       '        last := last + 1000;\n'
       '        COMMIT;\n'
       '    END LOOP;\n'
       'END $$')

_HELP = ("add a column of the new type (ADD COLUMN, catalog-only), dual-write it with a trigger, backfill it "
         "in batches, switch the app over, then drop the old column in a disabled cleanup step")


def alter_column_type(script: Script) -> list[Finding]:
    """A type change that rewrites the table and rebuilds its indexes (a USING expression always
    does) while holding ACCESS EXCLUSIVE: nothing reads or writes the table until it ends."""
    found = []
    for unit, cmd in script.commands(enums.AlterTableType.AT_AlterColumnType):
        change = next(c for c in script.type_changes(unit) if c.column == cmd.name)
        if change.rewrite is False:
            continue
        type_name = RawStream()(cmd.def_.typeName) if cmd.def_.typeName else "?"
        using = " USING ..." if cmd.def_.raw_default is not None else ""
        what = f'ALTER COLUMN "{cmd.name}" TYPE {type_name}{using} on "{unit.table}"'
        if change.rewrite is None:
            found.append(script.finding(
                unit, rule="alter-column-type", problem="rewrite", level=WARNING, lock="ACCESS EXCLUSIVE",
                message=(f"{what} rewrites the table and its indexes under ACCESS EXCLUSIVE (reads and writes "
                         f"wait until it ends) unless {change.unless}: then it changes only the catalog"
                         + ("" if change.old else "; the lint has not seen the column's current type")),
                help=(f"check the column's current type; if the change rewrites the table: {_HELP}")))
            continue
        since = f" (from {change.old})" if change.old else ""
        found.append(script.finding(
            unit, rule="alter-column-type", problem="rewrite", level=ERROR, lock="ACCESS EXCLUSIVE",
            message=(f"{what}{since} rewrites the table and its indexes under ACCESS EXCLUSIVE: reads and "
                     f"writes wait until it ends"),
            help=_HELP))
    return found
