"""Seed Phase 1: production sessions carry lock, statement and idle-in-transaction timeouts, and
may cancel an autovacuum that blocks a step (gonogo.postgres.retry); without that right a step waits
for the autovacuum instead: a WARN, never a stop."""

from __future__ import annotations

import dataclasses

from gonogo.results import GateResult, Verdict
from gonogo.postgres.retry import can_cancel_autovacuum
from gonogo.postgres.target import SessionGuards, Target
from gonogo.postgres.timeouts import RANGES, problem


def session_guards(target: Target, guards: SessionGuards, app: str) -> GateResult:
    """Open a session the way every production task does and read the settings back."""
    wanted = dataclasses.asdict(guards)
    with target.connect(app, guards) as conn:
        rows = {name: conn.execute("SELECT current_setting(%s), current_setting(%s)::interval = %s::interval",
                                   [name, name, value]).fetchone()
                for name, value in wanted.items()}
        app_name = conn.execute("SELECT current_setting('application_name')").fetchone()[0]
        role, may_cancel = can_cancel_autovacuum(conn)
    # what the session really runs with, against the allowed ranges: a pooler or a role setting can
    # override the startup options, and what was asked is no proof of what holds
    wrong = [f"{name}={rows[name][0]}: " + unsafe.split(" is not allowed: ", 1)[1]
             for name in wanted if (unsafe := problem(name, rows[name][0]))]
    wrong += [f"{name}={rows[name][0]} (wanted {value})" for name, value in wanted.items()
              if not rows[name][1] and not problem(name, rows[name][0])]
    if not wrong and not may_cancel:
        return GateResult(
            gate="session_guards", title="Session timeouts set", phase="production", verdict=Verdict.WARN,
            value=", ".join(f"{name}={rows[name][0]}" for name in wanted) + f"; role {role} may not cancel autovacuum",
            threshold=", ".join(f"{k}={v}" for k, v in wanted.items()) + "; may cancel an autovacuum",
            message=(f"every production session of this run starts with these timeouts (application_name "
                     f"{app_name}), but role {role} may not cancel an autovacuum that blocks a step: such a step "
                     f"waits for it with short attempts, and may run out of them on a big table"),
            hint=f"GRANT pg_signal_backend TO {role}; (PostgreSQL 18: pg_signal_autovacuum_worker)")
    return GateResult(
        gate="session_guards", title="Session timeouts set", phase="production",
        verdict=Verdict.PASS if not wrong else Verdict.FAIL,
        value=", ".join(f"{name}={rows[name][0]}" for name in wanted),
        threshold=", ".join(f"{k}={v}" for k, v in wanted.items()) + "; each "
                  + "; ".join(f"{k} {RANGES[k].describe()}" for k in wanted),
        message=(f"every production session of this run starts with these timeouts (application_name "
                 f"{app_name})" if not wrong else "settings differ: " + "; ".join(wrong)),
        hint="" if not wrong else "a pooler or role setting overrides startup options: connect directly")
