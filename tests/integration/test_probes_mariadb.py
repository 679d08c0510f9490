"""The binlog probe against a real MariaDB: the expiry is read; deadline = pausedAt + expiry."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncjob_operator.decide import retention
from syncjob_operator.probes import errors, mysql
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
