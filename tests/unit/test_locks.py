"""PostgreSQL's table-level lock modes and their conflict matrix (PostgreSQL 15 docs, Table 13.2)."""

from __future__ import annotations

import pytest

from gonogo.postgres.locks import LOCK_MODES, blocks, blocks_app, conflicts, normalize, strongest


def test_modes_are_listed_weakest_to_strongest():
    assert LOCK_MODES == ("ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE",
                          "SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE")


def test_the_conflict_matrix_is_symmetric():
    for a in LOCK_MODES:
        for b in LOCK_MODES:
            assert (b in conflicts(a)) == (a in conflicts(b)), (a, b)


def test_access_exclusive_conflicts_with_every_mode():
    assert conflicts("ACCESS EXCLUSIVE") == set(LOCK_MODES)
    assert len(conflicts("ACCESS EXCLUSIVE")) == 8


def test_access_share_conflicts_only_with_access_exclusive():
    assert conflicts("ACCESS SHARE") == {"ACCESS EXCLUSIVE"}


def test_rows_of_the_docs_table():
    assert conflicts("ROW EXCLUSIVE") == {"SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"}
    assert "SHARE UPDATE EXCLUSIVE" in conflicts("SHARE UPDATE EXCLUSIVE")  # self-conflicting
    assert "SHARE" not in conflicts("SHARE")  # two CREATE INDEX on one table run together
    assert conflicts("EXCLUSIVE") == set(LOCK_MODES) - {"ACCESS SHARE"}


def test_blocks_app_is_true_exactly_for_share_and_stronger():
    assert {m for m in LOCK_MODES if blocks_app(m)} == {
        "SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"}


def test_blocks_says_what_waits_in_plain_words():
    assert "reads and writes" in blocks("ACCESS EXCLUSIVE")
    assert "writes (INSERT/UPDATE/DELETE)" in blocks("SHARE")
    assert blocks("SHARE UPDATE EXCLUSIVE") == "other schema changes and VACUUM, not reads or writes"
    assert all(blocks(m) for m in LOCK_MODES)


@pytest.mark.parametrize("spelling", ["AccessExclusiveLock", "ACCESS EXCLUSIVE", "access exclusive",
                                      "ACCESS_EXCLUSIVE", " Access Exclusive Lock "])
def test_pg_locks_and_docs_spellings_are_both_accepted(spelling):
    assert normalize(spelling) == "ACCESS EXCLUSIVE"
    assert conflicts(spelling) == conflicts("ACCESS EXCLUSIVE")


def test_every_pg_locks_spelling_normalizes():
    pg_locks = ["AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock",
                "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"]
    assert [normalize(m) for m in pg_locks] == list(LOCK_MODES)


def test_an_unknown_mode_is_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="SIReadLock.*ACCESS SHARE"):
        normalize("SIReadLock")


def test_strongest():
    assert strongest(["ROW EXCLUSIVE", "ShareLock", None]) == "SHARE"
    assert strongest([]) is None
