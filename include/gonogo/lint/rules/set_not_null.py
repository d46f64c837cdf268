"""ALTER COLUMN ... SET NOT NULL scans the table under ACCESS EXCLUSIVE."""

from __future__ import annotations

from pglast import ast, enums

from gonogo.lint.finding import ERROR, Finding
from gonogo.lint.script import Script

_AT = enums.AlterTableType

FIX = ('ALTER TABLE "Recipe" ALTER COLUMN "name" SET NOT NULL',
       'ALTER TABLE "Recipe" ADD CONSTRAINT recipe_name_not_null CHECK ("name" IS NOT NULL) NOT VALID;\n'
       'ALTER TABLE "Recipe" VALIDATE CONSTRAINT recipe_name_not_null;\n'
       'ALTER TABLE "Recipe" ALTER COLUMN "name" SET NOT NULL;\n'
       'ALTER TABLE "Recipe" DROP CONSTRAINT recipe_name_not_null')


def set_not_null(script: Script) -> list[Finding]:
    """SET NOT NULL reads every row to prove there is no NULL, holding ACCESS EXCLUSIVE, unless
    a validated CHECK (col IS NOT NULL) proves it already (PostgreSQL 12+). Only such a check
    validated earlier in the same file is seen here."""
    proven: set[tuple[str | None, str]] = set()
    not_valid: dict[tuple[str | None, str], set[str]] = {}
    found = []
    for unit, cmd in script.commands(_AT.AT_AddConstraint, _AT.AT_ValidateConstraint, _AT.AT_SetNotNull):
        if cmd.subtype == _AT.AT_AddConstraint:
            columns = _not_null_columns(cmd.def_)
            if cmd.def_.skip_validation:
                not_valid[(unit.table, cmd.def_.conname)] = columns
            else:
                proven |= {(unit.table, c) for c in columns}
        elif cmd.subtype == _AT.AT_ValidateConstraint:
            proven |= {(unit.table, c) for c in not_valid.get((unit.table, cmd.name), ())}
        elif (unit.table, cmd.name) not in proven:
            found.append(script.finding(
                unit, rule="set-not-null", problem="not-null-scan", level=ERROR, lock="ACCESS EXCLUSIVE",
                message=(f'SET NOT NULL on "{unit.table}"."{cmd.name}" scans the whole table under '
                         f"ACCESS EXCLUSIVE: reads and writes wait for the scan"),
                help=(f'ADD CONSTRAINT ... CHECK ("{cmd.name}" IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT '
                      f"it in its own transaction (SHARE UPDATE EXCLUSIVE: reads and writes go on), then SET "
                      f"NOT NULL (PostgreSQL 12+ uses the validated check and skips the scan), then DROP "
                      f"CONSTRAINT the check")))
    return found


def _not_null_columns(constraint) -> set[str]:
    """Columns a CHECK constraint proves NOT NULL: `col IS NOT NULL`, alone or ANDed."""
    if not isinstance(constraint, ast.Constraint) or constraint.contype != enums.ConstrType.CONSTR_CHECK:
        return set()
    out: set[str] = set()

    def walk(expr) -> None:
        if isinstance(expr, ast.BoolExpr) and expr.boolop == enums.BoolExprType.AND_EXPR:
            for arg in expr.args:
                walk(arg)
        elif (isinstance(expr, ast.NullTest) and expr.nulltesttype == enums.NullTestType.IS_NOT_NULL
              and isinstance(expr.arg, ast.ColumnRef)):
            out.add(expr.arg.fields[-1].sval)

    walk(constraint.raw_expr)
    return out
