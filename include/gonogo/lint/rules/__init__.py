"""gonogo's own lint rules: one rule = one module = one function, same name at every level
(module drop_column.py, function drop_column, rule id "drop-column").

Every rule takes a Script (the file's statements as gonogo runs them, DO-block bodies
included) and returns Findings, each naming the lock taken, the risk and the fix.
"""

from gonogo.lint.rules.alter_column_type import alter_column_type
from gonogo.lint.rules.constraint_builds_index import constraint_builds_index
from gonogo.lint.rules.constraint_without_not_valid import constraint_without_not_valid
from gonogo.lint.rules.create_trigger_lock import create_trigger_lock
from gonogo.lint.rules.drop_column import drop_column
from gonogo.lint.rules.drop_constraint import drop_constraint
from gonogo.lint.rules.drop_index_without_concurrently import drop_index_without_concurrently
from gonogo.lint.rules.index_without_concurrently import index_without_concurrently
from gonogo.lint.rules.not_valid_validate_same_transaction import not_valid_validate_same_transaction
from gonogo.lint.rules.rename import rename
from gonogo.lint.rules.set_not_null import set_not_null
from gonogo.lint.rules.table_rewrite import table_rewrite
from gonogo.lint.rules.transaction_holds_lock import transaction_holds_lock
from gonogo.lint.rules.unbatched_update_delete import unbatched_update_delete

RULES = [
    unbatched_update_delete,
    create_trigger_lock,
    not_valid_validate_same_transaction,
    drop_column,
    drop_constraint,
    rename,
    drop_index_without_concurrently,
    set_not_null,
    alter_column_type,
    table_rewrite,
    index_without_concurrently,
    constraint_builds_index,
    constraint_without_not_valid,
    transaction_holds_lock,
]
