"""A database gonogo acts on, and the only place sessions to it are opened.

Every session carries an application_name and the session guards (lock, statement
and idle-in-transaction timeouts) as libpq startup options, so they hold from the
first statement and no code path can forget them.
"""

from __future__ import annotations

import dataclasses
import socket
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

from gonogo.errors import TargetError

if TYPE_CHECKING:
    import psycopg

# libpq keeps application_name to NAMEDATALEN - 1 bytes.
_APP_NAME_MAX = 63


def _addresses(host: str) -> set[str]:
    if host.startswith("/"):  # a Unix socket directory
        return {host}
    try:
        return {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return set()


@dataclass(frozen=True)
class SessionGuards:
    """The seed's Phase 1 session timeouts; lock_timeout is per step configurable."""

    lock_timeout: str = "2s"
    statement_timeout: str = "5min"
    idle_in_transaction_session_timeout: str = "10min"

    def __post_init__(self):
        """Each within its range (gonogo.postgres.timeouts): 0 would be "wait forever"."""
        from gonogo.postgres.timeouts import check

        for name, value in dataclasses.asdict(self).items():
            object.__setattr__(self, name, check(name, value, "session timeouts"))

    def options(self) -> str:
        return " ".join(f"-c {name}={value}" for name, value in dataclasses.asdict(self).items())


@dataclass(frozen=True)
class Target:
    """Where a database lives and how to log in. The password never appears in repr()."""

    name: str
    host: str
    port: int
    dbname: str
    user: str
    password: str | None = field(default=None, repr=False)
    sslmode: str | None = None

    @classmethod
    def from_url(cls, url: str, name: str) -> Target:
        """A target from a libpq URL or connection string (postgresql://user:pw@host:5432/db)."""
        from psycopg.conninfo import conninfo_to_dict

        try:
            parts = conninfo_to_dict(url)
        except Exception as exc:  # psycopg.ProgrammingError; the message never repeats the URL
            raise TargetError(f"the {name} URL is not a PostgreSQL connection URL: {type(exc).__name__}") from None
        if not parts.get("dbname") or not parts.get("user"):
            raise TargetError(f"the {name} URL needs a user and a database: postgresql://user:password@host:5432/db")
        return cls(name=name, host=parts.get("host") or "localhost", port=int(parts.get("port") or 5432),
                   dbname=parts["dbname"], user=parts["user"], password=parts.get("password"),
                   sslmode=parts.get("sslmode"))

    def describe(self) -> str:
        return f"{self.name} ({self.user}@{self.host}:{self.port}/{self.dbname})"

    def with_dbname(self, dbname: str) -> Target:
        return dataclasses.replace(self, dbname=dbname)

    def same_database(self, other: Target) -> bool:
        """Same port and database name on a host that resolves to a shared address
        ("localhost" and "127.0.0.1" are one server)."""
        if (self.port, self.dbname) != (other.port, other.dbname):
            return False
        return bool(_addresses(self.host) & _addresses(other.host)) or self.host == other.host

    def conninfo(self, **extra) -> str:
        from psycopg.conninfo import make_conninfo  # psycopg loads when a session is opened, not at parse

        params = dict(host=self.host, port=self.port, dbname=self.dbname, user=self.user,
                      password=self.password, sslmode=self.sslmode, connect_timeout=10)
        params.update(extra)
        return make_conninfo(**{k: v for k, v in params.items() if v is not None})

    def libpq_env(self) -> dict[str, str]:
        """Environment for pg_dump / pg_restore: credentials never go on a command line."""
        env = {"PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user,
               "PGDATABASE": self.dbname, "PGCONNECT_TIMEOUT": "10"}
        if self.password:
            env["PGPASSWORD"] = self.password
        if self.sslmode:
            env["PGSSLMODE"] = self.sslmode
        return env

    def connect(self, app: str, guards: SessionGuards | None = SessionGuards(),
                autocommit: bool = True) -> psycopg.Connection:
        """Open a session named `gonogo/<app>`, with the guards set from its first statement."""
        import psycopg

        extra = {"application_name": f"gonogo/{app}"[:_APP_NAME_MAX]}
        if guards is not None:
            extra["options"] = guards.options()
        try:
            return psycopg.connect(self.conninfo(**extra), autocommit=autocommit)
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise TargetError(
                f"cannot connect to {self.describe()}: {reason}. "
                f"Check that the server is running and that the connection's host, port, "
                f"database, login and password are right."
            ) from exc
