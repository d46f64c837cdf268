"""Fixtures shared by the integration tests (the session's clusters are in tests/conftest.py)."""

from __future__ import annotations

import pytest

from judge_app import drop_tiny_app, make_tiny_app


@pytest.fixture
def tiny_app(prod_cluster):
    """The watch judgement's tiny app (tests/judge_app.py) in a database of its own."""
    target = make_tiny_app(prod_cluster)
    yield target
    drop_tiny_app(prod_cluster, target)
