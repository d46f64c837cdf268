"""gonogo.authoring.discover on real servers: a bookshop app sends its queries to production, with
constants, through psycopg; gonogo finds them in pg_stat_statements, gives them parameters
sampled from the staging copy, and runs them as a workload that rolls its writes back and
keeps production's pace."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from gonogo.postgres import plans
from gonogo.authoring.discover import Found, top_statements, with_parameters
from gonogo.errors import NotMeasured
from gonogo.authoring.queries import Query, load_queries
from gonogo.postgres.rowcounts import count_rows
from gonogo.rehearsal.workload import Workload
from helpers import create_database, drop_database

BOOKSHOP = Path(__file__).with_name("bookshop.sql")
APP_SECONDS = 2.0
START = datetime(2024, 1, 1, tzinfo=timezone.utc)

# The bookshop's handlers: name -> (SQL as the app sends it, its parameters for round i and the
# previous statement's row, the text pg_stat_statements keeps). book runs 3 times a round.
APP = {
    "book": ("SELECT id, title, price FROM books WHERE id = %s",
             lambda i, _: [1 + i % 2000], "SELECT id, title, price FROM books WHERE id = $1"),
    "author_page": ("SELECT b.title, a.name FROM books AS b JOIN authors AS a ON a.id = b.author_id "
                    "WHERE a.id = %s ORDER BY b.published DESC LIMIT 20",
                    lambda i, _: [uuid.UUID(hashlib.md5(f"author {1 + i % 200}".encode()).hexdigest())],
                    "SELECT b.title, a.name FROM books AS b JOIN authors AS a ON a.id = b.author_id "
                    "WHERE a.id = $1 ORDER BY b.published DESC LIMIT $2"),
    "customer_book": ("SELECT id, quantity FROM orders WHERE customer = %s AND book_id = %s",
                      lambda i, _: [f"customer {i % 500}", 1 + (i * 7) % 2000],
                      "SELECT id, quantity FROM orders WHERE customer = $1 AND book_id = $2"),
    "search": ("SELECT id, title FROM books WHERE title ILIKE %s ORDER BY id LIMIT 10",
               lambda i, _: ["%ab%"], "SELECT id, title FROM books WHERE title ILIKE $1 ORDER BY id LIMIT $2"),
    "recent_orders": ("SELECT id, quantity FROM orders WHERE created_at >= %s AND created_at < %s",
                      lambda i, _: [START + timedelta(hours=i), START + timedelta(hours=i + 6)],
                      "SELECT id, quantity FROM orders WHERE created_at >= $1 AND created_at < $2"),
    "by_country": ("SELECT id, name FROM authors WHERE country IN (%s, %s)",
                   lambda i, _: ["NO", "SE"], "SELECT id, name FROM authors WHERE country IN ($1, $2)"),
    "reprice": ("UPDATE books SET price = %s WHERE id = %s",
                lambda i, _: [Decimal("9.99"), 1 + i % 2000], "UPDATE books SET price = $1 WHERE id = $2"),
    "new_author": ("INSERT INTO authors (id, name, country) VALUES (%s, %s, %s)",
                   lambda i, _: [uuid.uuid4(), f"New author {i}", "NO"],
                   "INSERT INTO authors (id, name, country) VALUES ($1, $2, $3)"),
    "place_order": ("INSERT INTO orders (book_id, customer, quantity, created_at) VALUES (%s, %s, %s, %s) RETURNING id",
                    lambda i, _: [1 + i % 2000, f"customer {i % 500}", 1, START],
                    "INSERT INTO orders (book_id, customer, quantity, created_at) VALUES ($1, $2, $3, $4) RETURNING id"),
    "cancel_order": ("DELETE FROM orders WHERE id = %s",
                     lambda i, placed: [placed[0]], "DELETE FROM orders WHERE id = $1"),
    # date_trunc's first argument is text that no column holds: no value can be found for it
    "orders_per_day": ("SELECT count(*) FROM orders WHERE date_trunc(%s, created_at) = %s",
                       lambda i, _: ["day", START + timedelta(days=1)],
                       "SELECT count(*) FROM orders WHERE date_trunc($1, created_at) = $2"),
}
EQUALITY_LOOKUPS = ["book", "author_page", "customer_book", "search", "recent_orders", "by_country"]
WRITES = {"reprice", "new_author", "place_order", "cancel_order"}


@dataclasses.dataclass
class Shop:
    production: object
    staging: object
    sent_rate: dict[str, float]  # calls per second the app sent, measured by the app
    found: list[Found]
    queries: list[Query]
    left_out: list[str]

    def found_for(self, name: str) -> Found:
        return next(f for f in self.found if f.text == APP[name][2])

    def query_for(self, name: str) -> Query:
        return next(q for q in self.queries if q.name == self.found_for(name).name)

    def statements_kept(self) -> list[str]:
        """Every statement pg_stat_statements holds for the database, nested ones too."""
        with self.production.connect("tests", guards=None) as conn:
            return [text for text, in conn.execute(
                "SELECT query FROM pg_stat_statements WHERE dbid = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())").fetchall()]


def load(target) -> None:
    with target.connect("tests", guards=None) as conn:
        conn.execute(BOOKSHOP.read_text())


def gonogo_and_catalog_statements(target) -> None:
    """What pg_stat_statements also holds besides the app: gonogo's own sessions (row counts,
    its schema, set_config, EXPLAIN, pg_dump's sequence reads), a migration tool's history,
    and catalog and temporary-table queries."""
    with target.connect("tests/noise", guards=None) as conn:
        conn.execute("CREATE SCHEMA gonogo")
        conn.execute("CREATE TABLE gonogo.history (id int PRIMARY KEY, step text)")
        conn.execute("CREATE TABLE schema_migrations (version varchar PRIMARY KEY)")
        conn.execute("CREATE SEQUENCE order_numbers")
        for _ in range(5):
            conn.execute("SELECT version FROM schema_migrations ORDER BY version")  # dbmate status
            conn.execute("SELECT last_value, is_called FROM order_numbers")  # what pg_dump reads
            count_rows(conn)  # full scans of orders: they would rank high
            conn.execute("SELECT step FROM gonogo.history WHERE id = %s", [1])
            conn.execute("SELECT relname FROM pg_class WHERE relname = %s", ["books"])
            conn.execute("SELECT set_config('application_name', %s, false)", ["gonogo/tests/noise"])
            conn.execute("EXPLAIN (ANALYZE) SELECT * FROM orders WHERE quantity > 1")
        conn.execute("CREATE TEMP TABLE scratch AS SELECT * FROM orders")
        for _ in range(20):
            conn.execute("SELECT count(*) FROM scratch WHERE quantity > %s", [1])


def run_app(target, seconds: float) -> dict[str, float]:
    """The app, one session sending every handler's query round after round for `seconds`;
    returns the calls per second it sent of each."""
    calls: Counter[str] = Counter()
    with psycopg.connect(target.conninfo(application_name="bookshop"), autocommit=True) as conn:
        start, i, row = time.monotonic(), 0, None
        while time.monotonic() - start < seconds:
            for name, (text, params, _normalized) in APP.items():
                for _ in range(3 if name == "book" else 1):
                    cur = conn.execute(text, params(i, row))
                    row = cur.fetchone() if cur.description else None
                    calls[name] += 1
            i += 1
        elapsed = time.monotonic() - start
    return {name: n / elapsed for name, n in calls.items()}


@pytest.fixture(scope="module")
def shop(prod_cluster, staging_cluster):
    production = create_database(prod_cluster, "bookshop", name="production")
    staging = create_database(staging_cluster, "bookshop", name="staging")
    for target in (production, staging):
        load(target)
    with production.connect("tests", guards=None) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")  # the load's statements are not the app's
    gonogo_and_catalog_statements(production)
    sent = run_app(production, APP_SECONDS)
    with production.connect("discover") as conn:
        found = top_statements(conn, limit=20, history=("gonogo.", "public.schema_migrations"))
    with staging.connect("discover") as conn:
        queries, left_out = with_parameters(found, conn)
    yield Shop(production, staging, sent, found, queries, left_out)
    drop_database(prod_cluster, production.dbname)
    drop_database(staging_cluster, staging.dbname)


def test_the_apps_statements_are_found_at_the_rate_it_sent_them(shop):
    assert sorted(f.text for f in shop.found) == sorted(normalized for _, _, normalized in APP.values())
    ratios = {name: round(shop.found_for(name).rate / rate, 3) for name, rate in shop.sent_rate.items()}
    print("found rate / sent rate:", ratios, "sent:", {n: round(r) for n, r in shop.sent_rate.items()})
    # the window runs from the reset, so it also holds the noise before the app: a little lower
    assert all(0.7 <= ratio <= 1.05 for ratio in ratios.values()), ratios
    assert {f.since_source for f in shop.found} == {"pg_stat_statements_info.stats_reset"}
    book = shop.found_for("book")
    assert book.calls == 3 * shop.found_for("by_country").calls and book.verb == "select" and not book.writes
    assert {f.verb for f in shop.found if f.writes} == {"update", "insert", "delete"}
    assert [f.total_ms for f in shop.found] == sorted((f.total_ms for f in shop.found), reverse=True)
    assert all(f.mean_ms == pytest.approx(f.total_ms / f.calls) for f in shop.found)
    assert all(re.fullmatch(r"(select|insert|update|delete)_(authors|books|orders)_[0-9a-f]{6}", f.name)
               for f in shop.found), [f.name for f in shop.found]
    with shop.production.connect("discover") as conn:
        assert [f.name for f in top_statements(conn, limit=3)] == [f.name for f in shop.found[:3]]


def test_gonogos_own_catalog_and_temporary_statements_are_not_among_them(shop):
    texts = " ".join(f.text for f in shop.found)
    kept_by_the_server = " ".join(shop.statements_kept())
    for left_out in ("count(*) FROM \"public\"", "gonogo.history", "pg_class", "set_config", "EXPLAIN",
                     "scratch", "pg_stat_statements", "quantity > $1", "schema_migrations", "order_numbers"):
        assert left_out in kept_by_the_server  # not blind: the server does keep them
        assert left_out not in texts
    relations = {name for f in shop.found for _, name in f.relations}
    assert relations == {"authors", "books", "orders"}


@pytest.mark.parametrize("name", EQUALITY_LOOKUPS)
def test_every_parameter_set_finds_rows_that_exist(shop, name):
    query = shop.query_for(name)
    assert len(query.param_sets) >= 5 and query.params == query.param_sets[0]
    assert len({repr(p) for p in query.param_sets}) == len(query.param_sets)  # no set twice
    with shop.staging.connect("tests", guards=None) as conn:
        found_rows = [len(conn.execute(query.sql, params).fetchall()) for params in query.param_sets]
    assert all(found_rows), found_rows


def test_a_composite_lookup_takes_its_values_from_one_row(shop):
    # 500 customers x 2000 books, 20000 orders: a pair picked column by column exists 2 % of the time
    query = shop.query_for("customer_book")
    with shop.staging.connect("tests", guards=None) as conn:
        exists = [conn.execute("SELECT EXISTS (SELECT FROM orders WHERE customer = %(p1)s AND book_id = %(p2)s)",
                               params).fetchone()[0] for params in query.param_sets]
    assert all(exists) and len({p["p1"] for p in query.param_sets}) >= 5


def test_like_ranges_in_lists_and_limits_get_values_that_fit(shop):
    search = shop.query_for("search").params
    assert search["p1"].startswith("%") and search["p1"].endswith("%") and len(search["p1"]) > 2
    assert search["p2"] == 10  # LIMIT: the rows per call production saw
    for params in shop.query_for("recent_orders").param_sets:
        assert params["p1"] < params["p2"]
    countries = shop.query_for("by_country").params
    assert {countries["p1"], countries["p2"]} <= {"NO", "SE", "FR", "DE", "IT"}
    assert countries["p1"] != countries["p2"]


def test_a_statement_without_a_value_for_a_parameter_is_left_out_with_the_reason(shop):
    name = shop.found_for("orders_per_day").name
    assert name not in {q.name for q in shop.queries}
    assert shop.left_out == [f"{name}: no value found for $1 (in date_trunc($1, created_at), type text)"]


def test_a_statement_left_out_makes_room_for_the_next_one(shop):
    """A new user's one-off loads (INSERT ... generate_series, which staging cannot prepare) took
    5 of the top 10 places: the workload ran 5 of the app's queries instead of 10."""
    names = [f.name for f in shop.found]
    skipped = names.index(shop.found_for("orders_per_day").name)
    assert skipped + 1 < len(names), names  # not blind: a statement ranks after the one left out
    with shop.staging.connect("discover") as conn:
        queries, left_out = with_parameters(shop.found, conn, limit=skipped + 1)
    assert [q.name for q in queries] == names[:skipped] + [names[skipped + 1]]
    assert left_out == shop.left_out


def test_writes_run_by_the_workload_leave_row_counts_unchanged(shop):
    writes = [dataclasses.replace(q, rate=None) for q in shop.queries if q.writes]  # unpaced: a fixed count
    assert {q.name for q in writes} == {shop.found_for(name).name for name in WRITES}
    with shop.staging.connect("tests", guards=None) as conn:
        before = count_rows(conn)
        with Workload(shop.staging, writes, clients=2, rounds=5) as workload:
            assert workload.wait(30)
        after = count_rows(conn)
        assert workload.stats.errors == 0, {n: q.first_error for n, q in workload.stats.queries.items()}
        assert workload.stats.calls == 2 * 5 * len(WRITES)
        assert after == before
        # the comparison is not blind: the same INSERT, not rolled back, adds its row
        place_order = next(q for q in writes if q.name == shop.found_for("place_order").name)
        with Workload(shop.staging, [dataclasses.replace(place_order, writes=False)], clients=1, rounds=1) as once:
            assert once.wait(10)
        assert count_rows(conn)["public.orders"] == before["public.orders"] + 1


def test_a_paced_workload_runs_each_query_at_its_rate(shop):
    paced = [dataclasses.replace(shop.query_for("book"), rate=20.0),
             dataclasses.replace(shop.query_for("search"), rate=8.0)]
    with Workload(shop.staging, paced, clients=2) as workload:
        time.sleep(3)
    stats = workload.stats
    measured = {q.name: stats.queries[q.name].calls / stats.seconds for q in paced}
    print("paced rates (wanted -> measured):", {q.rate: round(measured[q.name], 2) for q in paced})
    assert stats.errors == 0
    assert all(0.7 * q.rate <= measured[q.name] <= 1.3 * q.rate for q in paced), measured


def test_the_discovered_queries_are_what_plans_measure(shop):
    with shop.staging.connect("tests", guards=None) as conn:
        samples = plans.measure(conn, shop.queries, runs=1)
    assert set(samples) == {q.name for q in shop.queries}
    assert not [s.error for s in samples.values() if s.failed]


def test_a_role_that_cannot_see_the_apps_statements_measures_nothing(shop, prod_cluster):
    role, password = f"observer_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin = prod_cluster.target().connect("tests", guards=None)
    admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
    observer = dataclasses.replace(shop.production, user=role, password=password)
    try:
        with observer.connect("discover") as conn, pytest.raises(NotMeasured, match="grant it pg_read_all_stats"):
            top_statements(conn)
        admin.execute(sql.SQL("GRANT pg_read_all_stats TO {}").format(sql.Identifier(role)))
        with observer.connect("discover") as conn:
            assert [f.name for f in top_statements(conn, limit=3)] == [f.name for f in shop.found[:3]]
    finally:
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
        admin.close()


def test_without_pg_stat_statements_nothing_is_measured(prod_db):
    with prod_db.connect("discover") as conn, pytest.raises(NotMeasured, match="CREATE EXTENSION pg_stat_statements"):
        top_statements(conn)


def test_hand_written_queries_still_load_and_run(shop, tmp_path):
    (tmp_path / "queries.sql").write_text("-- name: book\nSELECT id, title FROM books WHERE id = %(id)s;\n"
                                          "-- name: cheap_books\nSELECT count(*) FROM books WHERE price < %(price)s;\n")
    (tmp_path / "params.yaml").write_text("book: {id: 1}\ncheap_books: {price: 10}\n")
    queries = load_queries(tmp_path / "queries.sql", tmp_path / "params.yaml")
    assert queries == (Query("book", "SELECT id, title FROM books WHERE id = %(id)s", {"id": 1}),
                       Query("cheap_books", "SELECT count(*) FROM books WHERE price < %(price)s", {"price": 10}))
    assert all(q.rate is None and not q.writes and q.param_sets == () for q in queries)
    with Workload(shop.staging, queries, clients=1, rounds=2) as workload:
        assert workload.wait(10)
    assert workload.stats.calls == 4 and workload.stats.errors == 0
    with shop.staging.connect("tests", guards=None) as conn:
        assert not any(s.failed for s in plans.measure(conn, queries, runs=1).values())
