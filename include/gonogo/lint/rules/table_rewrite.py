"""Statements that write the whole table anew (a new relfilenode) under ACCESS EXCLUSIVE."""

from __future__ import annotations

from pglast import ast, enums
from pglast.visitors import Visitor

from gonogo.lint.finding import ERROR, WARNING, Finding
from gonogo.lint.script import Script

_AT = enums.AlterTableType
_CT = enums.ConstrType

# Functions PostgreSQL marks VOLATILE that migrations put in a DEFAULT: each row needs its own
# value, so ADD COLUMN cannot store one default in the catalog and rewrites the table.
VOLATILE = frozenset({"gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4",
                      "random", "clock_timestamp", "timeofday", "nextval", "gen_random_bytes", "txid_current"})
# Functions that are STABLE or IMMUTABLE: one value for the statement, kept in the catalog.
NOT_VOLATILE = frozenset({"now", "transaction_timestamp", "statement_timestamp", "current_setting", "lower",
                          "upper", "to_jsonb", "jsonb_build_object", "json_build_object", "make_interval",
                          "array_fill", "coalesce", "concat", "length", "date_trunc", "to_timestamp", "md5"})
_SERIAL = frozenset({"serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"})

_ADD_COLUMN_HELP = ("add the column without the default (catalog-only), then ALTER COLUMN ... SET DEFAULT for "
                    "new rows (catalog-only), then fill the existing rows in key ranges in a DO-block loop that "
                    "COMMITs after each batch")
# PostgreSQL 15 cannot make an existing column generated: the add-then-fill fix would leave a plain one
_GENERATED_HELP = ("a stored generated column has no form without a rewrite: add a plain column instead, kept in "
                   "step for new rows by a BEFORE INSERT OR UPDATE trigger, and fill the existing rows in key "
                   "ranges in a DO-block loop that COMMITs after each batch; or compute the value where it is "
                   "read (a view, an expression index built CONCURRENTLY)")
_NO_ONLINE_HELP = ("PostgreSQL has no online form of this: leave it out of the migration, or rebuild the table "
                   "online with the pg_repack extension outside the rollout")

# (bad, fixed): a volatile default on a table in use, and the same column filled without a rewrite
FIX = ('ALTER TABLE "Recipe" ADD COLUMN "token" uuid DEFAULT gen_random_uuid()',
       'ALTER TABLE "Recipe" ADD COLUMN IF NOT EXISTS "token" uuid;\n'
       'ALTER TABLE "Recipe" ALTER COLUMN "token" SET DEFAULT gen_random_uuid();\n'
       'DO $$\nDECLARE\n    last bigint := 0;\n    top bigint := (SELECT coalesce(max("id"), 0) FROM "Recipe");\n'
       'BEGIN\n    WHILE last < top LOOP\n'
       '        UPDATE "Recipe" SET "token" = gen_random_uuid() WHERE "id" > last AND "id" <= last + 1000 '
       'AND "token" IS NULL;\n'
       '        last := last + 1000;\n        COMMIT;\n    END LOOP;\nEND $$')


def table_rewrite(script: Script) -> list[Finding]:
    """CLUSTER, VACUUM FULL, SET LOGGED/UNLOGGED, and ADD COLUMN whose value differs per row (a
    VOLATILE default, serial, an identity, a stored generated column) copy every row into a
    new file while ACCESS EXCLUSIVE is held: nothing reads or writes the table until it ends.
    (ALTER COLUMN ... TYPE is alter-column-type's.) A DEFAULT calling a function the lint
    does not know is a warning: it rewrites only if that function is VOLATILE."""
    found = []
    for unit in script.units:
        node, table = unit.node, unit.table
        if table in script.new_tables:
            continue
        why, level, help_text = None, ERROR, _NO_ONLINE_HELP
        if isinstance(node, ast.ClusterStmt) and node.relation is not None:
            why = "CLUSTER writes the table anew in index order"
        elif isinstance(node, ast.VacuumStmt) and any(o.defname == "full" for o in node.options or ()):
            why = "VACUUM FULL writes the table anew"
            table = next((r.relation.relname for r in node.rels or ()), None)
            if table is None or table in script.new_tables:
                continue
        elif isinstance(node, ast.AlterTableStmt):
            for cmd in node.cmds or ():
                if cmd.subtype in (_AT.AT_SetLogged, _AT.AT_SetUnLogged):
                    why = f"SET {'LOGGED' if cmd.subtype == _AT.AT_SetLogged else 'UNLOGGED'} writes the table anew"
                elif cmd.subtype == _AT.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
                    per_row, certain = _per_row_value(cmd.def_)
                    if per_row:
                        why = f'ADD COLUMN "{cmd.def_.colname}" {per_row}: every existing row gets its own value'
                        level = ERROR if certain else WARNING
                        help_text = _GENERATED_HELP if per_row.startswith("GENERATED ALWAYS") else _ADD_COLUMN_HELP
                if why:
                    break
        if why is None:
            continue
        message = (f'{why}, rewriting "{table}" and its indexes under ACCESS EXCLUSIVE: reads and writes '
                   f"wait until it ends")
        if level == WARNING:
            message += " (if that function is VOLATILE; a STABLE or IMMUTABLE one is stored once, catalog-only)"
        found.append(script.finding(unit, rule="table-rewrite", problem="rewrite", level=level,
                                    lock="ACCESS EXCLUSIVE", message=message, help=help_text))
    return found


class _Calls(Visitor):
    def __init__(self):
        super().__init__()
        self.names: list[str] = []

    def visit_FuncCall(self, ancestors, node):
        self.names.append(node.funcname[-1].sval)


def _per_row_value(column: ast.ColumnDef) -> tuple[str | None, bool]:
    """(what gives each row its own value, certain) for a new column, or (None, False)."""
    type_name = column.typeName.names[-1].sval if column.typeName else ""
    if type_name in _SERIAL:
        return f"{type_name} (a sequence default)", True
    for constraint in column.constraints or ():
        if not isinstance(constraint, ast.Constraint):
            continue
        if constraint.contype == _CT.CONSTR_IDENTITY:
            return "GENERATED AS IDENTITY", True
        if constraint.contype == _CT.CONSTR_GENERATED:
            return "GENERATED ALWAYS AS (...) STORED", True
        if constraint.contype == _CT.CONSTR_DEFAULT and constraint.raw_expr is not None:
            calls = _Calls()
            calls(constraint.raw_expr)
            volatile = [n for n in calls.names if n.lower() in VOLATILE]
            if volatile:
                return f"DEFAULT {volatile[0]}() (VOLATILE)", True
            unknown = [n for n in calls.names if n.lower() not in NOT_VOLATILE]
            if unknown:
                return f"DEFAULT {unknown[0]}()", False
    return None, False
