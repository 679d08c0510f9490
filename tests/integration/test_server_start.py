"""A real server that dies while starting fails its start at once, with its own log.

The port race every free-port chooser has (another process binds the port
between the choice and the server's bind) is played out for real: the port
is held by the test, and the real PostgreSQL and MariaDB are told to use it.
Their start must fail with their log's account of it, never wait out the
readiness bound or leave a test hanging.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.env import mariadb, postgres

pytestmark = pytest.mark.integration


def test_postgres_on_a_taken_port_fails_its_start_with_its_log(
    taken_port: int, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError) as caught:
        postgres.start_postgres(tmp_path / "pg", port=taken_port)
    message = str(caught.value)
    assert "postgres exited" in message, message  # its death, not the readiness bound
    assert "could not create any TCP/IP sockets" in message, message


def test_mariadb_on_a_taken_port_fails_its_start_with_its_log(
    taken_port: int, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError) as caught:
        mariadb.start_mariadb(tmp_path / "mariadb", port=taken_port)
    message = str(caught.value)
    assert "mariadbd exited" in message, message
    assert "Address already in use" in message, message
