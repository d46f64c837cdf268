"""Observability snapshot before and after the dry run (seed section 5, "Capture key metrics").

`snapshot` runs every named query of include/sql/observability.sql (top queries by latency,
table bloat, sequential scans, long-running transactions) and counts the rows of every user
table exactly; the result is plain JSON-able data, to travel through XCom. `diff` is the gate
over two snapshots: it lists what changed and stops only for what a DBA would stop for.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import psycopg

from gonogo.postgres import rowcounts
from gonogo.results import GateResult, Verdict
from gonogo.postgres.sqlfile import SQL_DIR, load_named

GATE, TITLE = "observability", "Observability before/after the dry run"
DEAD_PCT_GROWTH = 20.0   # percentage points of dead tuples a table may gain before it is a WARN
# A table with a few dead rows (a migration tool's 13-row history, after the rehearsal's
# rollbacks) is not bloated whatever its share: below this many, the share is listed only.
DEAD_TUPLES_WORTH_A_WARN = 1000
MEAN_CHANGE = 0.2        # a top statement whose mean time moved by 20 % or more is listed


def snapshot(conn: psycopg.Connection) -> dict[str, Any]:
    """{"taken_at": iso, "queries": {name: [row, ...] | {"error": ...}}, "row_counts":
    {"schema.table": n} | {"error": ...}}. A query that fails (pg_stat_statements not created
    in this database, say) is recorded with its error, not raised.

    The row counts are full scans: they run with track_counts off where the session may set it
    (a superuser), so that they do not show up as sequential scans in the next snapshot."""
    _quietly(conn, "SELECT pg_stat_force_next_flush()")  # this session's own counts, e.g. EXPLAIN runs
    _quietly(conn, "SELECT pg_stat_clear_snapshot()")    # fresh statistics inside a transaction too
    data: dict[str, Any] = {"taken_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                            "queries": {}}
    for name, sql in load_named(SQL_DIR / "observability.sql").items():
        try:
            with conn.transaction():
                cursor = conn.execute(sql)
                columns = [c.name for c in cursor.description]
                data["queries"][name] = [dict(zip(columns, map(_plain, row))) for row in cursor]
        except psycopg.Error as exc:
            data["queries"][name] = {"error": _error(exc)}
    try:
        with conn.transaction():
            _quietly(conn, "SET LOCAL track_counts = off")
            data["row_counts"] = rowcounts.count_rows(conn)
    except psycopg.Error as exc:
        data["row_counts"] = {"error": _error(exc)}
    return data


def _quietly(conn: psycopg.Connection, statement: str) -> bool:
    """Run a statement that only helps (it may be refused: an older server, no privilege)."""
    try:
        with conn.transaction():
            conn.execute(statement)
        return True
    except psycopg.Error:
        return False


def _error(exc: psycopg.Error) -> str:
    return f"{exc.diag.message_primary or str(exc).strip()} (SQLSTATE {exc.sqlstate})"


def _plain(value: Any) -> Any:
    """A value as JSON can hold it: numbers, strings, None."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.timedelta):
        return round(value.total_seconds(), 1)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return value


def diff(before: dict, after: dict, *, phase: str = "dry_run", subject: str = "",
         live_traffic: bool = False, dead_pct_growth: float = DEAD_PCT_GROWTH) -> GateResult:
    """What changed between two snapshots, one detail row per change:
    {"what", "object", "before", "after", "change", "flag"} with flag "FAIL", "WARN" or "".

    FAIL when a table lost rows (WARN with live_traffic: on production the app deletes too);
    WARN for a new transaction open longer than a minute, or a table whose dead-tuple share
    grew by more than `dead_pct_growth` percentage points (with at least
    DEAD_TUPLES_WORTH_A_WARN dead rows). Everything else is listed only."""
    rows = (_row_counts(before, after, live_traffic) + _bloat(before, after, dead_pct_growth)
            + _seq_scans(before, after) + _long_transactions(before, after) + _top_queries(before, after))
    changes = [r for r in rows if r["what"] != "not compared"]
    failed = [r for r in rows if r["flag"] == "FAIL"]
    warned = [r for r in rows if r["flag"] == "WARN"]
    lost = [r for r in rows if r["what"] == "rows" and r["flag"]]
    if failed or warned:
        verdict = Verdict.FAIL if failed else Verdict.WARN
        message = "; ".join(f"{r['object']}: {r['change']}" for r in failed + warned) + \
            f" ({len(changes)} changes in all)"
    else:
        verdict = Verdict.PASS
        message = (f"{len(changes)} changes, none to stop for: no rows lost, no new long transaction, "
                   f"no table's dead-tuple share up by more than {dead_pct_growth:g} points")
    if skipped := [r["object"] for r in rows if r["what"] == "not compared"]:
        message += f"; not compared: {', '.join(skipped)}"
    if lost:
        hint = ("the app deletes rows too: compare with its own activity before going on" if live_traffic
                else "nothing else writes on staging: a step deleted these rows; find the statement before "
                     "it runs on production")
    elif any(r["what"] == "long transaction" for r in warned):
        hint = ("look at the transaction in pg_stat_activity and end it if it is not yours: it holds back "
                "vacuum and makes CREATE INDEX CONCURRENTLY wait")
    elif warned:
        hint = "VACUUM (ANALYZE) the table after the step, or update it in smaller batches"
    else:
        hint = ""
    return GateResult(
        gate=GATE, title=TITLE, phase=phase, subject=subject, verdict=verdict,
        value=f"{len(changes)} changes",
        threshold=f"no rows lost; no new transaction open > 1 min; dead tuples ≤ +{dead_pct_growth:g} points",
        message=message, hint=hint, details=rows)


def _change(what: str, obj: str, before: Any, after: Any, change: str, flag: str = "") -> dict[str, Any]:
    return {"what": what, "object": obj, "before": before, "after": after, "change": change, "flag": flag}


def _section(snap: dict, name: str) -> list[dict] | dict:
    if name == "row_counts":
        return snap.get("row_counts", {"error": "not in the snapshot"})
    return snap.get("queries", {}).get(name, {"error": "not in the snapshot"})


def _both(before: dict, after: dict, name: str, rows: list[dict]):
    """The section from both snapshots, or None after adding a "not compared" row."""
    old, new = _section(before, name), _section(after, name)
    bad = [s["error"] for s in (old, new) if isinstance(s, dict) and "error" in s]
    if bad:
        rows.append(_change("not compared", name, None, None, bad[-1]))
        return None
    return old, new


def _by(rows: list[dict], key: str) -> dict[Any, dict]:
    return {row[key]: row for row in rows}


def _row_counts(before: dict, after: dict, live_traffic: bool) -> list[dict]:
    rows: list[dict] = []
    if not (both := _both(before, after, "row_counts", rows)):
        return rows
    old, new = both
    lost_flag = "WARN" if live_traffic else "FAIL"
    for table in sorted(old.keys() | new.keys()):
        b, a = old.get(table), new.get(table)
        if b == a:
            continue
        if a is None:
            rows.append(_change("rows", table, b, None, f"table gone with its {b} rows", lost_flag if b else ""))
        elif b is None:
            rows.append(_change("rows", table, None, a, f"new table, {a} rows"))
        else:
            rows.append(_change("rows", table, b, a, f"{b} → {a} rows ({a - b:+d})", lost_flag if a < b else ""))
    return rows


def _bloat(before: dict, after: dict, growth: float) -> list[dict]:
    rows: list[dict] = []
    if not (both := _both(before, after, "table_bloat", rows)):
        return rows
    old, new = (_by(s, "table_name") for s in both)
    for table in sorted(old.keys() & new.keys()):
        b, a = old[table], new[table]
        if (b["n_dead_tup"], b["total_bytes"]) == (a["n_dead_tup"], a["total_bytes"]):
            continue
        pct_b, pct_a = b["dead_pct"] or 0.0, a["dead_pct"] or 0.0
        change = (f"dead tuples {b['n_dead_tup']} → {a['n_dead_tup']} ({pct_b:g} % → {pct_a:g} %), "
                  f"size {_size(b['total_bytes'])} → {_size(a['total_bytes'])}")
        bloated = pct_a - pct_b > growth and a["n_dead_tup"] >= DEAD_TUPLES_WORTH_A_WARN
        rows.append(_change("dead tuples", table, pct_b, pct_a, change, "WARN" if bloated else ""))
    return rows


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _seq_scans(before: dict, after: dict) -> list[dict]:
    rows: list[dict] = []
    if not (both := _both(before, after, "sequential_scans", rows)):
        return rows
    old, new = (_by(s, "table_name") for s in both)
    for table in sorted(new):
        b = old.get(table, {"seq_scan": 0, "seq_tup_read": 0, "idx_scan": 0})
        a = new[table]
        scans = a["seq_scan"] - b["seq_scan"]
        if scans <= 0:
            continue
        index_scans = (a["idx_scan"] or 0) - (b["idx_scan"] or 0)
        rows.append(_change("sequential scans", table, b["seq_scan"], a["seq_scan"],
                            f"+{scans} sequential scans reading +{a['seq_tup_read'] - b['seq_tup_read']} rows "
                            f"(index scans +{index_scans})"))
    return rows


def _long_transactions(before: dict, after: dict) -> list[dict]:
    rows: list[dict] = []
    if not (both := _both(before, after, "long_running_transactions", rows)):
        return rows
    # a transaction is its backend and its start: a reused pid is another transaction
    old = {(tx["pid"], str(tx.get("xact_start"))) for tx in both[0]}
    for tx in both[1]:
        pid = tx["pid"]
        if (pid, str(tx.get("xact_start"))) in old:
            continue
        who = " ".join(x for x in (tx.get("usename"), tx.get("application_name")) if x)
        rows.append(_change("long transaction", f"pid {pid}" + (f" ({who})" if who else ""), None,
                            tx["xact_age"], f"new transaction open {tx['xact_age']:g} s, {tx['state']}: "
                                            f"{tx['query']}", "WARN"))
    return rows


def _top_queries(before: dict, after: dict) -> list[dict]:
    rows: list[dict] = []
    if not (both := _both(before, after, "top_queries_by_latency", rows)):
        return rows
    old, new = (_by(s, "queryid") for s in both)
    for queryid, q in new.items():
        text = q["query"][:80]
        if queryid not in old:
            rows.append(_change("top query", text, None, q["mean_ms"], f"new in the top 10, mean {q['mean_ms']:g} ms"))
            continue
        b = old[queryid]["mean_ms"]
        if b and abs(q["mean_ms"] - b) / b >= MEAN_CHANGE:
            rows.append(_change("top query", text, b, q["mean_ms"], f"mean {b:g} ms → {q['mean_ms']:g} ms"))
    return rows
