"""Throwaway local PostgreSQL clusters, made with the server binaries on this machine (the
local development stack: never imported by the product).

The demo, the tests and the benchmarks use two of them to stand in for production and
staging. initdb and pg_ctl refuse to run as root, so as root every server command runs
as the `postgres` OS user, in directories that user owns.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gonogo.errors import GonogoError, SetupError
from gonogo.postgres.pgbin import find_bindir

if TYPE_CHECKING:  # stdlib-only at import: the harness runs without the venv too
    from gonogo.postgres.target import Target

SERVER_USER = "postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_account() -> pwd.struct_passwd | None:
    """The OS user the server runs as: `postgres` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise SetupError(
            "running as root, and initdb refuses root, but there is no 'postgres' OS user to run "
            "the server as. Create it (useradd --system postgres) or run as an ordinary user."
        ) from None


def runuser() -> str:
    """util-linux's runuser (in sbin, which a non-login PATH may lack)."""
    for candidate in (shutil.which("runuser"), "/usr/sbin/runuser", "/sbin/runuser"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise SetupError("running as root needs runuser (util-linux) to start the server as 'postgres'")


def make_base_dir(prefix: str = "gonogo-") -> Path:
    """A fresh directory for clusters that the server user can enter (mkdtemp makes 0700)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@dataclass
class LocalCluster:
    """One cluster under <base>/<name>: data/, wal_archive/, server.log, cluster.json."""

    name: str
    base: Path
    port: int
    password: str
    archive: bool

    SUPERUSER = "postgres"

    @property
    def root(self) -> Path:
        return self.base / self.name

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def archive_dir(self) -> Path:
        return self.root / "wal_archive"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def target(self, dbname: str = "postgres", name: str | None = None) -> Target:
        from gonogo.postgres.target import Target

        return Target(name=name or self.name, host="127.0.0.1", port=self.port, dbname=dbname,
                      user=self.SUPERUSER, password=self.password)

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def create(cls, base: Path, name: str, *, archive: bool = False) -> LocalCluster:
        cluster = cls(name=name, base=Path(base), port=free_port(),
                      password=secrets.token_urlsafe(18), archive=archive)
        cluster._initdb()
        cluster._save()
        return cluster

    @classmethod
    def load(cls, base: Path, name: str) -> LocalCluster | None:
        state = Path(base) / name / "cluster.json"
        if not state.is_file():
            return None
        data = json.loads(state.read_text())
        return cls(name=name, base=Path(base), port=data["port"], password=data["password"],
                   archive=data["archive"])

    @classmethod
    def ensure(cls, base: Path, name: str, *, archive: bool = False) -> LocalCluster:
        """The cluster at base/name, created if missing, started if stopped."""
        cluster = cls.load(base, name) or cls.create(base, name, archive=archive)
        cluster.start()
        return cluster

    def is_running(self) -> bool:
        if not self.data_dir.is_dir():
            return False
        result = self._run(["pg_ctl", "-D", str(self.data_dir), "status"], check=False)
        return result.returncode == 0

    def start(self) -> None:
        if self.is_running():
            return
        for _ in range(3):
            self._write_settings()
            result = self._run(["pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file),
                                "-w", "-t", "60", "start"], check=False)
            if result.returncode == 0:
                return
            if "could not bind" not in self._log_tail():
                break
            self.port = free_port()  # someone took our port meanwhile: take another
            self._save()
        raise SetupError(f"cluster {self.name} did not start: {self._log_tail() or result.stderr}")

    def stop(self) -> None:
        if self.is_running():
            self._run(["pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- point-in-time recovery ------------------------------------------------------------------

    def base_backup(self, dest: Path) -> Path:
        """A plain-format pg_basebackup of the running cluster into dest (new or empty).

        -X none: the WAL comes from the archive, as in a real PITR, so the drill proves the
        archive holds everything from the backup's start on; and without WAL in the backup
        pg_basebackup returns only once the backup's last segment is archived, so backup and
        archive are consistent when this returns.
        """
        dest = Path(dest)
        if dest.exists() and any(dest.iterdir()):
            raise SetupError(f"base backup destination {dest} is not empty")
        dest.mkdir(parents=True, exist_ok=True)
        dest.chmod(0o700)
        if account := _server_account():
            os.chown(dest, account.pw_uid, account.pw_gid)
        self._run(["pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.SUPERUSER,
                   "--no-password", "-D", str(dest), "-F", "plain", "-X", "none",
                   "--checkpoint=fast", "--no-sync"],
                  env={"PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"})
        return dest

    @classmethod
    def recover(cls, base: Path, name: str, base_backup: Path, *, archive_dir: Path,
                restore_point: str, password: str, timeout: float = 120.0) -> LocalCluster:
        """A new cluster at base/name: a copy of base_backup, recovered with the WAL of
        archive_dir up to restore_point and promoted. password is the source cluster's (the
        backup carries its roles). The new cluster does not archive, so it never writes into
        the source's archive. Raises SetupError with the server log when recovery fails."""
        from gonogo.clone.pitr import recovery_settings, render

        cluster = cls(name=name, base=Path(base), port=free_port(), password=password, archive=False)
        if cluster.root.exists():
            raise SetupError(f"{cluster.root} exists already: remove it or pick another name")
        cluster.root.mkdir(parents=True)
        shutil.copytree(base_backup, cluster.data_dir, symlinks=True)
        cluster.data_dir.chmod(0o700)
        if account := _server_account():
            for path in (cluster.root, *_tree(cluster.data_dir)):
                os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)
        # postgresql.auto.conf is read last; start() rewrites gonogo.conf with this cluster's
        # port and socket directory and without the source's archive_command.
        auto = cluster.data_dir / "postgresql.auto.conf"
        settings = recovery_settings(restore_point, archive_dir=archive_dir, action="promote")
        existing = auto.read_text() if auto.exists() else ""
        cluster._write_as_server(auto, existing + "# gonogo: recovery to a restore point\n" + render(settings))
        cluster._write_as_server(cluster.data_dir / "recovery.signal", "")
        cluster._save()
        try:
            cluster.start()
            cluster._wait_promoted(timeout)
        except BaseException:
            cluster.stop()  # no server left behind; the directory and its log stay for a look
            raise
        if f'recovery stopping at restore point "{restore_point}"' not in cluster.log_file.read_text(errors="replace"):
            cluster.stop()
            raise SetupError(f"cluster {name} was promoted, but its log does not say it stopped at "
                             f"restore point {restore_point!r}: {cluster._log_tail()}")
        return cluster

    def _wait_promoted(self, timeout: float) -> None:
        """Poll pg_is_in_recovery() until the server has reached its target and promoted."""
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            if not self.is_running():
                raise SetupError(f"cluster {self.name} stopped during recovery: {self._log_tail()}")
            try:
                with self.target().connect("cluster/recover", guards=None) as conn:
                    if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                        return
            except (GonogoError, psycopg.OperationalError):
                pass  # not accepting connections yet, or restarting them while it promotes
            if time.monotonic() > deadline:
                raise SetupError(f"cluster {self.name} still in recovery after {timeout:.0f} s: "
                                 f"{self._log_tail()}")
            time.sleep(0.2)

    # -- internals ----------------------------------------------------------------------------

    def _initdb(self) -> None:
        account = _server_account()
        self.root.mkdir(parents=True, exist_ok=True)
        self.archive_dir.mkdir(exist_ok=True)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if account:
            for path in (self.root, self.archive_dir, pwfile):
                os.chown(path, account.pw_uid, account.pw_gid)
        try:
            self._run(["initdb", "-D", str(self.data_dir), "-U", self.SUPERUSER,
                       "--pwfile", str(pwfile), "--auth=scram-sha-256",
                       "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions"])
        finally:
            pwfile.unlink(missing_ok=True)
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\ninclude_if_exists = 'gonogo.conf'\n")

    def _write_settings(self) -> None:
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "shared_preload_libraries": "'pg_stat_statements'",
            "pg_stat_statements.track": "all",
            "track_io_timing": "on",
            "max_connections": "100",
            # A throwaway cluster: durability of the host's disk buys nothing here.
            "fsync": "off",
            "synchronous_commit": "off",
        }
        if self.archive:
            # The production stand-in archives WAL, so a restore point can really be recovered.
            settings |= {
                "wal_level": "replica",
                "archive_mode": "on",
                "archive_command": f"'test ! -f {self.archive_dir}/%f && cp %p {self.archive_dir}/%f'",
            }
        text = "".join(f"{key} = {value}\n" for key, value in settings.items())
        path = self.data_dir / "gonogo.conf"
        if not path.exists() or path.read_text() != text:
            self._write_as_server(path, text)

    def _write_as_server(self, path: Path, text: str) -> None:
        path.write_text(text)
        if account := _server_account():
            os.chown(path, account.pw_uid, account.pw_gid)

    def _save(self) -> None:
        state = self.root / "cluster.json"
        state.write_text(json.dumps({"port": self.port, "password": self.password,
                                     "archive": self.archive}))
        state.chmod(0o600)

    def _log_tail(self) -> str:
        """The server log's FATAL and PANIC lines (the reason: on a busy machine the shutdown's
        own lines can push it out of a plain tail), then its last 5 lines."""
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        tail = lines[-5:]
        reasons = [line for line in lines[:-5] if " FATAL: " in line or " PANIC: " in line]
        return "\n".join([*reasons[-3:], *tail])

    def _run(self, argv: list[str], check: bool = True,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        argv = [str(find_bindir() / argv[0]), *argv[1:]]
        if _server_account():
            argv = [runuser(), "-u", SERVER_USER, "--", *argv]  # runuser keeps the environment
        # The server must not inherit our working directory if the server user cannot enter it.
        result = subprocess.run(argv, capture_output=True, text=True, cwd="/",
                                env=None if env is None else {**os.environ, **env})
        if check and result.returncode != 0:
            raise SetupError(f"{' '.join(argv)} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result


def _tree(root: Path) -> list[Path]:
    """root and every directory and file below it."""
    paths = [root]
    for parent, dirs, files in os.walk(root):
        paths.extend(Path(parent) / entry for entry in (*dirs, *files))
    return paths


def stop_all(base: Path) -> list[str]:
    """Stop every cluster under base (also ones a crashed run left behind)."""
    stopped = []
    for state in sorted(Path(base).glob("*/cluster.json")):
        cluster = LocalCluster.load(base, state.parent.name)
        if cluster and cluster.is_running():
            cluster.stop()
            stopped.append(cluster.name)
    return stopped
