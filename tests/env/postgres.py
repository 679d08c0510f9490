"""A real PostgreSQL server for tests, started from the Debian binaries.

Why this exists: the retention probes and the Debezium pipeline need a real
server with ``wal_level=logical`` and replication slots, not a mock. The tests
run as root and PostgreSQL refuses to run as root, so the server runs as the
``postgres`` OS user (Python's ``subprocess`` drops privileges itself: no
``su``/``runuser`` wrapper between us and the postmaster, so the pid we hold is
the postmaster's and a signal reaches it directly).

The cluster is made with ``initdb --wal-segsize=1`` (1 MB WAL segments) so that
tests which push a slot past ``max_slot_wal_keep_size`` need a few MB of WAL,
not hundreds. initdb scales ``max_wal_size`` to 64 MB for that segment size,
so a checkpoint (which is what invalidates an over-limit slot) happens by
itself every ~33 MB of WAL; pass ``settings={"max_wal_size": "1GB"}`` to see
``wal_status = unreserved`` linger until an explicit CHECKPOINT.

The cluster itself lives in a directory of its own under /tmp, not in the
caller's: the postmaster, as ``postgres``, opens its configuration and
control files by absolute path for as long as it runs, and the caller's
directory may turn private under it (every pytest session makes
``/tmp/pytest-of-<user>`` mode 0700 again, while other sessions' servers
run).  ``workdir/pgdata`` links to it; it is removed at interpreter exit.
The log stays in ``workdir``.

Every wait is bounded; a server that does not come up raises with the tail of
its log.
"""

from __future__ import annotations

import atexit
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.env import processes

PG_ROOT = Path("/usr/lib/postgresql")
OS_USER = "postgres"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
INITDB_TIMEOUT_S = 120.0

# Defaults every test server gets. Written into postgresql.conf (not passed as
# ``-c`` on the command line) so that ALTER SYSTEM can still override them:
# command-line options outrank postgresql.auto.conf.
DEFAULT_SETTINGS: dict[str, str] = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",  # TCP only: pytest paths exceed the 107-byte socket limit
    "wal_level": "logical",
    "max_replication_slots": "16",
    "max_wal_senders": "16",
    "max_connections": "60",
    "shared_buffers": "32MB",
    "fsync": "off",  # throwaway clusters: durability buys nothing, speed does
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "log_min_messages": "warning",
    "log_checkpoints": "on",
}

_GUC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def pg_bin_dir() -> Path:
    """The newest installed PostgreSQL major's bin directory."""
    versions = sorted(
        (p for p in PG_ROOT.glob("*/bin/postgres") if p.parent.parent.name.isdigit()),
        key=lambda p: int(p.parent.parent.name),
    )
    if not versions:
        raise RuntimeError(f"no PostgreSQL server binaries under {PG_ROOT}")
    return versions[-1].parent


def make_traversable_for_others(path: Path) -> None:
    """Let a non-root server user reach ``path``: add o+x to our own ancestors that lack it.

    pytest's temporary directories are 0700 and owned by root; the server user
    needs to pass through them (execute only: it still cannot list them).
    """
    uid = os.getuid()
    for d in [path, *path.parents]:
        try:
            st = d.stat()
        except FileNotFoundError:
            continue
        if st.st_uid == uid and not st.st_mode & 0o001:
            d.chmod(st.st_mode | 0o001)


def _chown_tree(path: Path, user: str) -> None:
    shutil.chown(path, user=user, group=user)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            shutil.chown(os.path.join(root, name), user=user, group=user)


def _setting_line(name: str, value: str) -> str:
    if not _GUC_NAME.match(name):
        raise ValueError(f"not a setting name: {name!r}")
    escaped = value.replace("\\", "\\\\").replace("'", "''")
    return f"{name} = '{escaped}'\n"


@dataclass
class PostgresServer:
    """A running test server. Superuser ``user``/``password`` over TCP on ``host:port``."""

    host: str
    port: int
    user: str
    password: str
    dbname: str
    datadir: Path
    logfile: Path
    bindir: Path
    process: processes.Process = field(repr=False)

    def dsn(self, **overrides: str | int) -> str:
        """A libpq connection string; keyword overrides (``dbname=``, ``password=`` ...) win."""
        params: dict[str, str | int] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": self.dbname,
            "connect_timeout": 5,
        }
        params.update(overrides)
        return make_conninfo("", **params)

    def uri(self, dbname: str | None = None) -> str:
        """A ``postgresql://`` URI (the password is URL-safe by construction)."""
        return (
            f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/"
            f"{dbname or self.dbname}"
        )

    def connect(self, **overrides: str | int) -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit superuser connection (ALTER SYSTEM and CHECKPOINT need no transaction)."""
        return psycopg.connect(self.dsn(**overrides), autocommit=True)

    @property
    def server_version_num(self) -> int:
        with self.connect() as conn:
            row = conn.execute("SHOW server_version_num").fetchone()
        assert row is not None
        return int(str(row[0]))

    def reload(self, settings: Mapping[str, str | int]) -> list[str]:
        """ALTER SYSTEM each setting, then pg_reload_conf().

        Returns the names that only take effect after a restart
        (``pg_settings.pending_restart``); call :meth:`restart` for those.
        """
        with self.connect() as conn:
            loaded = conn.execute("SELECT pg_conf_load_time()").fetchone()
            for name, value in settings.items():
                if not _GUC_NAME.match(name):
                    raise ValueError(f"not a setting name: {name!r}")
                conn.execute(
                    sql.SQL("ALTER SYSTEM SET {} = {}").format(
                        sql.SQL(name), sql.Literal(str(value))
                    )
                )
            conn.execute("SELECT pg_reload_conf()")
            # The reload is asynchronous (SIGHUP to the postmaster, which then
            # signals the backends). pg_conf_load_time() moves in this session
            # once it has re-read the files; after that every new connection
            # sees the new values too. Bounded wait.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                now = conn.execute("SELECT pg_conf_load_time()").fetchone()
                if now != loaded:
                    break
                time.sleep(0.05)
            else:
                raise TimeoutError("postgres did not reload its configuration within 10s")
            rows = conn.execute(
                "SELECT name FROM pg_settings WHERE pending_restart AND name = ANY(%s)",
                [list(settings)],
            ).fetchall()
        return [str(r[0]) for r in rows]

    set = reload  # the brief's other name for the same thing

    def start(self) -> None:
        """Start the postmaster; wait until it takes connections (bounded, fails fast)."""
        self.process.start(self._ready, timeout_s=START_TIMEOUT_S, what="taking connections")

    def _ready(self) -> bool:
        with psycopg.connect(self.dsn(connect_timeout=2), autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True

    def restart(self) -> None:
        """Stop and start on the same port and data directory (for restart-only settings)."""
        self.stop()
        self.start()

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster); SIGKILL the process group if it hangs."""
        self.process.stop()


def _postmaster(bindir: Path, datadir: Path, logfile: Path) -> processes.Process:
    return processes.Process(
        name="postgres",
        argv=[str(bindir / "postgres"), "-D", str(datadir)],
        log=logfile,
        cwd=datadir,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": str(datadir)},
        user=OS_USER,
        stop_signal=signal.SIGINT,
        signal_group=False,
        stop_grace_s=STOP_TIMEOUT_S,
        stop_at_exit=True,
    )


def server_home(prefix: str, link: Path, *, mode: int, user: str) -> tuple[Path, Path]:
    """A home under /tmp for a server that runs as ``user``, its data directory, and ``link`` to it.

    Under /tmp, not under the caller's workdir: a workdir under pytest's
    private temporary root (0700, reset by any concurrent pytest session)
    would deny the server user the path.  Removed at interpreter exit; it is
    registered before the server's own stop at exit, so it runs after it.
    """
    home = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    home.chmod(0o711)  # the server user passes through, lists nothing
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    datadir = home / link.name
    datadir.mkdir(mode=mode)
    shutil.chown(datadir, user=user, group=user)
    link.symlink_to(datadir)
    return home, datadir


def start_postgres(
    workdir: Path,
    *,
    port: int | None = None,
    settings: Mapping[str, str | int] | None = None,
) -> PostgresServer:
    """initdb (1 MB WAL segments) into a cluster that ``workdir/pgdata`` links to; start a
    server on 127.0.0.1.

    ``port=None`` picks a free port (retrying if another process takes it
    first). ``settings`` are added to postgresql.conf on top of
    :data:`DEFAULT_SETTINGS`. The server is stopped at interpreter exit if the
    caller does not stop it first.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    bindir = pg_bin_dir()
    link = workdir / "pgdata"
    logfile = workdir / "postgres.log"
    if link.exists() or link.is_symlink():
        raise FileExistsError(f"{link} exists: use a fresh workdir")
    home, datadir = server_home("syncjob-pg-", link, mode=0o700, user=OS_USER)
    password = secrets.token_urlsafe(18)
    pwfile = home / "pgpass.init"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    shutil.chown(pwfile, user=OS_USER, group=OS_USER)
    try:
        result = subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "--username=postgres",
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=peer",
                "--encoding=UTF8",
                "--locale=C",
                "--wal-segsize=1",
                "--no-sync",  # a test cluster: nothing to lose
            ],
            capture_output=True,
            user=OS_USER,
            group=OS_USER,
            extra_groups=[],
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": str(datadir)},
            cwd=datadir,
            timeout=INITDB_TIMEOUT_S,
            check=False,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"initdb failed ({result.returncode}):\n{result.stdout.decode(errors='replace')}"
            f"\n{result.stderr.decode(errors='replace')}"
        )

    conf = {**DEFAULT_SETTINGS, **{k: str(v) for k, v in (settings or {}).items()}}
    attempts = 1 if port is not None else 3
    last_error: Exception | None = None
    for _ in range(attempts):
        chosen = port if port is not None else processes.free_port()
        with (datadir / "postgresql.conf").open("a") as f:
            f.write("\n# tests/env/postgres.py\n")
            for name, value in {**conf, "port": str(chosen)}.items():
                f.write(_setting_line(name, value))
        server = PostgresServer(
            host="127.0.0.1",
            port=chosen,
            user="postgres",
            password=password,
            dbname="postgres",
            datadir=datadir,
            logfile=logfile,
            bindir=bindir,
            process=_postmaster(bindir, datadir, logfile),
        )
        try:
            server.start()
            return server
        except (RuntimeError, TimeoutError) as exc:  # most likely: the port was taken meanwhile
            last_error = exc
    raise RuntimeError(f"could not start postgres: {last_error}")
