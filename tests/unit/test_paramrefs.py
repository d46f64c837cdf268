"""Where each $n of a pg_stat_statements text stands, read from its parse tree."""

from __future__ import annotations

import pytest

from gonogo.authoring.paramrefs import (ANY, EQUAL, IN, INSERTED, LIKE, LIMIT, LOWER, OFFSET, SAME, SET, TYPED, UPPER,
                              read_statement)

COLUMNS = {(None, "books"): ["id", "author_id", "title", "price"], (None, "authors"): ["id", "name", "country"]}


def roles(text: str) -> dict[int, tuple[str, str | None, str]]:
    """{n: (role, table reference alias, column or expression)}"""
    uses = read_statement(text, columns_of=lambda r: COLUMNS.get(r, ())).uses
    return {n: (u.role, u.row[1] if u.row else None, u.column or u.expression or u.context) for n, u in uses.items()}


def test_each_comparison_says_what_its_value_must_be():
    assert roles("SELECT 1 FROM books b WHERE b.author_id = $1 AND $2 < b.price AND b.price <= $3 "
                 "AND b.title ILIKE $4 AND b.id IN ($5, $6) AND b.id = ANY ($7) AND b.price BETWEEN $8 AND $9 "
                 "LIMIT $10 OFFSET $11") == {
        1: (EQUAL, "b", "author_id"), 2: (LOWER, "b", "price"), 3: (UPPER, "b", "price"),
        4: (LIKE, "b", "title"), 5: (IN, "b", "id"), 6: (IN, "b", "id"), 7: (ANY, "b", "id"),
        8: (LOWER, "b", "price"), 9: (UPPER, "b", "price"), 10: (LIMIT, None, "LIMIT"), 11: (OFFSET, None, "OFFSET")}


def test_unqualified_columns_are_resolved_among_the_tables_in_scope():
    uses = roles("SELECT 1 FROM books JOIN authors ON authors.id = books.author_id WHERE country = $1 AND price > $2")
    assert uses == {1: (EQUAL, "authors", "country"), 2: (LOWER, "books", "price")}


def test_a_subquery_has_its_own_scope_and_an_expression_is_read_over_one_row():
    uses = roles("SELECT 1 FROM books b WHERE lower(b.title) = $1 AND b.author_id IN "
                 "(SELECT a.id FROM authors a WHERE a.country = $2)")
    assert uses[1] == (EQUAL, "b", "lower(b.title)")
    assert uses[2] == (EQUAL, "a", "country")


def test_inserted_and_set_values_take_their_columns_also_without_a_column_list():
    assert roles("INSERT INTO books VALUES ($1, $2, $3, $4)")[3] == (INSERTED, "books", "title")
    assert roles("UPDATE books SET price = $1 WHERE id = $2") == {1: (SET, "books", "price"), 2: (EQUAL, "books", "id")}


def test_prisma_client_shapes_a_cast_enum_and_its_and_1_equals_1():
    """Prisma Client sends `"status" = CAST($1::text AS "Status")` and `AND 1=1`, which
    pg_stat_statements keeps as `$2 = $3`: the cast is looked through, the pair gets one value."""
    uses = roles('SELECT 1 FROM books b WHERE (b.title = CAST($1::text AS "Genre") AND $2 = $3)')
    assert uses == {1: (EQUAL, "b", "title"), 2: (SAME, None, "equal to another parameter"),
                    3: (SAME, None, "equal to another parameter")}


def test_anything_else_is_typed_and_says_where_it_stands():
    uses = roles("SELECT count(*) FROM books b WHERE date_trunc($1, b.published) = $2 GROUP BY b.id HAVING count(*) > $3")
    assert uses == {1: (TYPED, None, "in date_trunc($1, b.published)"),
                    2: (TYPED, None, "in date_trunc($1, b.published) = $2"),
                    3: (TYPED, None, "in count(*) > $3")}


def test_writes_relations_and_spans_come_from_the_tree():
    text = "WITH gone AS (DELETE FROM books WHERE id = $1 RETURNING id) SELECT * FROM gone"
    statement = read_statement(text)
    assert statement.verb == "select" and statement.writes
    assert statement.relations == ((None, "books"),)  # gone is a WITH name, not a table
    assert statement.spans == ((1, text.index("$1"), text.index("$1") + 2),)


@pytest.mark.parametrize("text", ["EXPLAIN SELECT 1", "SET x = 1", "SELECT 1; SELECT 2", "SELECT * INTO t FROM books",
                                  "SELEC 1"])
def test_only_one_select_insert_update_or_delete_is_read(text):
    with pytest.raises(ValueError):
        read_statement(text)
