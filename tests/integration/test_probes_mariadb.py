"""The binlog probe against a real MariaDB: the expiry, and what the server still has.

The expiry gives deadline = pausedAt + expiry; the binlog files, the oldest
file's Gtid_list and the binlog readers tell whether a committed position is
still on the server, which is checked against the server's own answer to a
replica asking for that position.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncjob_operator.decide import retention
from syncjob_operator.probes import errors, mysql
from syncjob_operator.probes.connection import SourceConnection
from tests.env import debezium_mariadb, processes
from tests.env.debezium_mariadb import MariaDBSource
from tests.env.mariadb import MariaDBServer, start_mariadb
from tests.env.processes import free_port
from tests.helpers.sources import mariadb_connection

PAUSED_AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
def expiry(mariadb_server: MariaDBServer) -> Iterator[None]:
    """Put the session server's expiry back after a test changes it."""
    yield
    mariadb_server.set({"binlog_expire_logs_seconds": 86400})


async def test_probe_reads_the_expiry_and_the_deadline_is_paused_at_plus_it(
    mariadb_server: MariaDBServer,
) -> None:
    settings = await mysql.probe_binlog(mariadb_connection(mariadb_server))
    assert settings.flavor == "mariadb" and "MariaDB" in settings.version
    assert settings.log_bin is True
    assert settings.expire_logs_seconds == 86400
    assert settings.expire_logs_days == pytest.approx(1.0)
    bound = retention.mysql_bound(settings, paused_at=PAUSED_AT)
    assert bound.basis == "mariadb:binlog_expire_logs_seconds"
    assert bound.deadline == PAUSED_AT + timedelta(days=1)
    assert bound.figures["expireSeconds"] == 86400


@pytest.mark.usefixtures("expiry")
@pytest.mark.parametrize(
    ("variable", "value", "seconds"),
    [
        ("binlog_expire_logs_seconds", 3600, 3600),
        ("binlog_expire_logs_seconds", 90, 90),
        # Setting the days moves the seconds too (one setting in MariaDB 10.6+).
        ("expire_logs_days", 2, 2 * 86400),
    ],
)
async def test_a_changed_expiry_is_read_back(
    mariadb_server: MariaDBServer, variable: str, value: int, seconds: int
) -> None:
    mariadb_server.set({variable: value})
    settings = await mysql.probe_binlog(mariadb_connection(mariadb_server))
    assert retention.binlog_expiry_seconds(settings) == seconds
    bound = retention.mysql_bound(settings, paused_at=PAUSED_AT)
    assert bound.deadline == PAUSED_AT + timedelta(seconds=seconds)


@pytest.mark.usefixtures("expiry")
async def test_zero_expiry_means_no_deadline(mariadb_server: MariaDBServer) -> None:
    mariadb_server.set({"binlog_expire_logs_seconds": 0})
    settings = await mysql.probe_binlog(mariadb_connection(mariadb_server))
    bound = retention.mysql_bound(settings, paused_at=PAUSED_AT)
    assert bound.deadline is None and bound.reason == "BinlogNeverExpires"


async def test_an_account_without_grants_can_probe(mariadb_server: MariaDBServer) -> None:
    with mariadb_server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE USER IF NOT EXISTS 'probe'@'127.0.0.1' IDENTIFIED BY 'probe-pw-1'")
    settings = await mysql.probe_binlog(
        mariadb_connection(mariadb_server, user="probe", password="probe-pw-1")
    )
    assert settings.log_bin and settings.expire_logs_seconds is not None


async def test_bad_password_is_authentication_failed(mariadb_server: MariaDBServer) -> None:
    wrong = "not-the-password-123"
    with pytest.raises(errors.AuthenticationFailedError) as info:
        await mysql.probe_binlog(mariadb_connection(mariadb_server, password=wrong))
    assert wrong not in str(info.value) and mariadb_server.password not in str(info.value)


async def test_wrong_port_is_source_unreachable(mariadb_server: MariaDBServer) -> None:
    with pytest.raises(errors.SourceUnreachableError):
        await mysql.probe_binlog(
            mariadb_connection(mariadb_server, port=str(free_port())), timeout_s=5
        )


async def test_unknown_database_is_database_not_found(mariadb_server: MariaDBServer) -> None:
    with pytest.raises(errors.DatabaseNotFoundError):
        await mysql.probe_binlog(mariadb_connection(mariadb_server, database="nope"))


@pytest.fixture(scope="module")
def no_binlog_server() -> Iterator[MariaDBServer]:
    with tempfile.TemporaryDirectory(prefix="mariadb-nobinlog-") as workdir:
        server = start_mariadb(Path(workdir), settings={"log_bin": None})
        try:
            yield server
        finally:
            server.stop()


async def test_binlog_off_is_binlog_disabled(no_binlog_server: MariaDBServer) -> None:
    with pytest.raises(errors.BinlogDisabledError) as info:
        await mysql.probe_binlog(mariadb_connection(no_binlog_server))
    assert info.value.reason == "BinlogDisabled"


# --- what the server still has: its binlogs, the oldest Gtid_list, its readers --


@pytest.fixture(scope="module")
def cdc_source() -> Iterator[MariaDBSource]:
    """A server as Debezium needs it, with the connector's account (whose grants the probe uses)."""
    with tempfile.TemporaryDirectory(prefix="mariadb-gtid-") as workdir:
        source = debezium_mariadb.start_source(
            Path(workdir), settings={"binlog_expire_logs_seconds": 3600}
        )
        try:
            yield source
        finally:
            source.stop()


def as_connector(source: MariaDBSource) -> SourceConnection:
    return mariadb_connection(source.server, user=source.user, password=source.password)


def server_serves(source: MariaDBSource, gtids: str) -> tuple[bool, str]:
    """Whether the server itself serves a replica starting at ``gtids`` (its own check).

    ``mariadb-binlog --read-from-remote-server --start-position=<GTIDs>``
    connects as a replica does (as Debezium does), so the server runs the same
    check it runs for the connector when it reconnects.
    """
    server = source.server
    result = subprocess.run(
        [
            "mariadb-binlog",
            "--read-from-remote-server",
            f"--host={server.host}",
            f"--port={server.port}",
            f"--user={source.user}",
            f"--start-position={gtids}",
            "--to-last-log",
            "binlog.000001",
        ],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "MYSQL_PWD": source.password},
        timeout=60,
        check=False,
    )
    return result.returncode == 0, result.stderr


def write(source: MariaDBSource, statements: list[str]) -> None:
    with source.server.connect() as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


async def test_the_probe_and_the_server_agree_on_what_a_position_still_has(
    cdc_source: MariaDBSource,
) -> None:
    write(cdc_source, ["CREATE DATABASE g", "CREATE TABLE g.t (id INT PRIMARY KEY)"])
    settings, fresh = await mysql.probe_binlog_server(as_connector(cdc_source))
    assert fresh.files == ("binlog.000001",) and fresh.oldest_gtid_list == ""
    assert fresh.account == cdc_source.user and fresh.unreadable is None
    early = debezium_mariadb.gtid_binlog_pos(cdc_source.server)  # e.g. 0-1-7

    # More writes, one in a second domain, then every older binlog purged.
    write(cdc_source, [f"INSERT INTO g.t VALUES ({i})" for i in range(3)])
    write(cdc_source, ["SET SESSION gtid_domain_id = 1", "INSERT INTO g.t VALUES (100)"])
    purge = debezium_mariadb.rotate_and_purge(cdc_source.server, rotations=2)
    assert purge.after == [purge.purged_to], purge
    now = debezium_mariadb.gtid_binlog_pos(cdc_source.server)  # e.g. 0-1-10,1-1-11

    settings, server = await mysql.probe_binlog_server(as_connector(cdc_source))
    assert server.files == (purge.purged_to,)
    assert retention.gtids.mariadb_positions(server.oldest_gtid_list or "") == (
        retention.gtids.mariadb_positions(now)
    )
    domain0 = f"0-1-{retention.gtids.mariadb_positions(now)[0]}"
    positions = {
        now: True,  # caught up: the oldest file starts right after it
        early: False,  # before the purged transactions
        domain0: False,  # lacks domain 1, which MariaDB then reads from its start
    }
    for gtids, kept in positions.items():
        position = retention.BinlogPosition("binlog.000001", 4, gtids)
        check = retention.check_position(position, server, flavor=settings.flavor)
        served, stderr = server_serves(cdc_source, gtids)
        assert (check.kept, served) == (kept, kept), (gtids, check, stderr)
        if not kept:
            assert "Could not find GTID state requested by slave" in stderr, stderr

    # The file of an old offset is gone, yet a position by GTIDs is not lost.
    bound = retention.mysql_bound(
        settings,
        paused_at=PAUSED_AT,
        positions=[retention.BinlogPosition("binlog.000001", 4, now)],
        server=server,
    )
    assert bound.checked and not bound.lost and bound.reason == "BinlogExpiry"
    assert bound.deadline == PAUSED_AT + timedelta(hours=1)
    lost = retention.mysql_bound(
        settings,
        paused_at=PAUSED_AT,
        positions=[retention.BinlogPosition("binlog.000001", 4, early)],
        server=server,
    )
    assert lost.lost and lost.reason == "BinlogPurged" and lost.basis == retention.MARIADB_PURGED


async def test_the_probe_sees_its_own_accounts_binlog_readers_only(
    cdc_source: MariaDBSource,
) -> None:
    server = cdc_source.server
    # A replica connection of the connector's account, waiting for more events.
    reader = processes.Process(
        name="mariadb-binlog",
        argv=[
            "mariadb-binlog",
            "--read-from-remote-server",
            f"--host={server.host}",
            f"--port={server.port}",
            f"--user={cdc_source.user}",
            f"--start-position={debezium_mariadb.gtid_binlog_pos(server)}",
            "--stop-never",
            "--stop-never-slave-server-id=7001",
            "--result-file=/dev/null",
            "binlog.000001",
        ],
        log=server.datadir.parent / "mariadb-binlog.log",
        env={"PATH": "/usr/bin:/bin", "MYSQL_PWD": cdc_source.password},
    )
    reader.start(
        lambda: bool(debezium_mariadb.binlog_readers(server)),
        timeout_s=30,
        what="a Binlog Dump thread",
    )
    try:
        _, seen = await mysql.probe_binlog_server(as_connector(cdc_source))
        assert seen.readers == (cdc_source.user,) and seen.job_readers == 1
        # Root sees it too; an account without PROCESS sees only its own threads.
        _, as_root = await mysql.probe_binlog_server(mariadb_connection(server))
        assert as_root.readers == (cdc_source.user,) and as_root.job_readers == 0
        with server.connect() as conn, conn.cursor() as cur:
            cur.execute("CREATE USER IF NOT EXISTS 'mon'@'127.0.0.1' IDENTIFIED BY 'mon-pw-1'")
            cur.execute("GRANT BINLOG MONITOR ON *.* TO 'mon'@'127.0.0.1'")
        _, other = await mysql.probe_binlog_server(
            mariadb_connection(server, user="mon", password="mon-pw-1")
        )
        assert other.readers == () and other.unreadable is None
    finally:
        reader.stop()


async def test_an_account_without_binlog_monitor_reads_settings_but_cannot_check(
    mariadb_server: MariaDBServer,
) -> None:
    with mariadb_server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE USER IF NOT EXISTS 'probe'@'127.0.0.1' IDENTIFIED BY 'probe-pw-1'")
    settings, server = await mysql.probe_binlog_server(
        mariadb_connection(mariadb_server, user="probe", password="probe-pw-1")
    )
    assert settings.expire_logs_seconds == 86400
    assert server.unreadable is not None and "BINLOG MONITOR" in server.unreadable, server
    bound = retention.mysql_bound(
        settings,
        paused_at=PAUSED_AT,
        positions=[retention.BinlogPosition("binlog.000001", 4, "0-1-1")],
        server=server,
    )
    assert not bound.checked and bound.deadline == PAUSED_AT + timedelta(days=1)
