"""A team's database tests in pytest, run as a command: `python -m pytest check_recipes.py`.
(Not test_*.py: gonogo's own suite must not collect them.)"""

import os

import psycopg
import pytest


@pytest.fixture
def conn():
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        yield conn


def test_recipe_table_exists(conn):
    assert conn.execute("SELECT to_regclass('recipe')").fetchone()[0] == "recipe"


def test_every_recipe_has_a_title(conn):
    blank = conn.execute("SELECT count(*) FROM recipe WHERE coalesce(title, '') = ''").fetchone()[0]
    assert blank == 0, f"{blank} recipes have no title"
