"""A real MariaDB server for tests, started from the Debian binaries.

Why this exists: the binlog-retention probe (``@@binlog_expire_logs_seconds``)
and a MySQL-family Debezium source need a real server with the binary log on in
ROW format. The tests run as root; ``mariadbd --user=mysql`` drops privileges
itself, so the pid we hold is the server's.

The server reads no option files (``--no-defaults``): the host's /etc/mysql
must not leak into a test. Its socket lives in a short /tmp path because
pytest's directories exceed the 107-byte socket limit; the tests connect over
TCP. Users are set up by an ``--init-file`` run at startup, so there is no
password-less window on the TCP port.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

from tests.env import processes
from tests.env.postgres import server_home

OS_USER = "mysql"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
INSTALL_TIMEOUT_S = 180.0

# Server options every test server gets (command-line form, without "--").
DEFAULT_SETTINGS: dict[str, str] = {
    "bind-address": "127.0.0.1",
    "log-bin": "binlog",  # relative: inside the data directory
    "binlog-format": "ROW",
    "binlog-row-image": "FULL",  # what Debezium needs
    "server-id": "1",
    "skip-name-resolve": "ON",
    "innodb-buffer-pool-size": "64M",
    "innodb-log-file-size": "48M",
    "innodb-flush-log-at-trx-commit": "2",  # throwaway server: speed over durability
    "sync-binlog": "0",
    "max-connections": "60",
    "performance-schema": "OFF",
}


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class MariaDBServer:
    """A running test server; ``user``/``password`` is a root-equivalent account over TCP."""

    host: str
    port: int
    user: str
    password: str
    datadir: Path
    logfile: Path
    socket_path: Path
    process: processes.Process = field(repr=False)

    def connect(self, **overrides: object) -> pymysql.connections.Connection:
        """An autocommit connection with bounded timeouts."""
        params: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "connect_timeout": 5,
            "read_timeout": 30,
            "write_timeout": 30,
            "autocommit": True,
        }
        params.update(overrides)
        return pymysql.connect(**params)

    def set(self, settings: Mapping[str, str | int]) -> None:
        """SET GLOBAL each (dynamic) variable, e.g. ``binlog_expire_logs_seconds``."""
        with self.connect() as conn, conn.cursor() as cur:
            for raw_name, value in settings.items():
                name = raw_name.replace("-", "_")
                if not name.replace("_", "").isalnum():
                    raise ValueError(f"not a variable name: {raw_name!r}")
                if isinstance(value, int):
                    cur.execute(f"SET GLOBAL {name} = {value:d}")
                else:
                    cur.execute(f"SET GLOBAL {name} = %s", (value,))

    reload = set  # same name as PostgresServer's

    def start(self) -> None:
        """Start mariadbd; wait until it takes connections (bounded, fails fast)."""
        self.process.start(self._ready, timeout_s=START_TIMEOUT_S, what="taking connections")

    def _ready(self) -> bool:
        with self.connect(connect_timeout=2) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
        return True

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        """SIGTERM (clean shutdown); SIGKILL the process group if it hangs."""
        self.process.stop()


def start_mariadb(
    workdir: Path,
    *,
    port: int | None = None,
    settings: Mapping[str, str | int | None] | None = None,
) -> MariaDBServer:
    """mariadb-install-db into a data directory that ``workdir/mariadb-data`` links to;
    start mariadbd on 127.0.0.1.

    ``settings`` are server options (``binlog_expire_logs_seconds``,
    ``server_id`` ...; ``_`` or ``-`` both work) on top of
    :data:`DEFAULT_SETTINGS`; a value of None drops a default (``{"log_bin":
    None}`` starts a server without a binary log). The account ``root`` gets a random password and
    may connect from 127.0.0.1. The server is stopped at interpreter exit if
    the caller does not stop it first.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    link = workdir / "mariadb-data"
    logfile = workdir / "mariadb.log"
    if link.exists() or link.is_symlink():
        raise FileExistsError(f"{link} exists: use a fresh workdir")
    _, datadir = server_home("syncjob-mdb-", link, mode=0o750, user=OS_USER)

    result = subprocess.run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={datadir}",
            f"--user={OS_USER}",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
            "--skip-name-resolve",
        ],
        capture_output=True,
        env={"PATH": "/usr/sbin:/usr/bin:/bin", "LC_ALL": "C"},
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"mariadb-install-db failed ({result.returncode}):\n"
            f"{result.stdout.decode(errors='replace')}\n{result.stderr.decode(errors='replace')}"
        )

    password = secrets.token_urlsafe(18)
    init_file = datadir / "init.sql"
    # Runs as the server starts, before it takes connections.
    init_file.write_text(
        f"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY {_quote(password)};\n"
        "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n"
        "FLUSH PRIVILEGES;\n"
    )
    init_file.chmod(0o600)
    shutil.chown(init_file, user=OS_USER, group=OS_USER)

    opts = {**DEFAULT_SETTINGS}
    for name, value in (settings or {}).items():
        key = name.replace("_", "-")
        if value is None:
            opts.pop(key, None)
        else:
            opts[key] = str(value)
    socket_dir = Path(tempfile.mkdtemp(prefix="mdb-", dir="/tmp"))
    socket_dir.chmod(0o755)
    shutil.chown(socket_dir, user=OS_USER, group=OS_USER)
    socket_path = socket_dir / "mysqld.sock"

    attempts = 1 if port is not None else 3
    last_error: Exception | None = None
    for _ in range(attempts):
        chosen = port if port is not None else processes.free_port()
        args = [
            "/usr/sbin/mariadbd",
            "--no-defaults",
            f"--user={OS_USER}",
            f"--datadir={datadir}",
            f"--port={chosen}",
            f"--socket={socket_path}",
            f"--pid-file={datadir / 'mariadbd.pid'}",
            f"--init-file={init_file}",
            *(f"--{k}={v}" for k, v in opts.items()),
        ]
        server = MariaDBServer(
            host="127.0.0.1",
            port=chosen,
            user="root",
            password=password,
            datadir=datadir,
            logfile=logfile,
            socket_path=socket_path,
            process=processes.Process(
                name="mariadbd",
                argv=args,
                log=logfile,
                env={"PATH": "/usr/sbin:/usr/bin:/bin", "LC_ALL": "C"},
                signal_group=False,
                stop_grace_s=STOP_TIMEOUT_S,
                stop_at_exit=True,
            ),
        )
        try:
            server.start()
            return server
        except (RuntimeError, TimeoutError) as exc:  # most likely: the port was taken meanwhile
            last_error = exc
    raise RuntimeError(f"could not start mariadbd: {last_error}")
