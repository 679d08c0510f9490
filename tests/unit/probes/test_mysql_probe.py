"""The MySQL/MariaDB probe reading recorded server answers (live ones: tests/integration)."""

from __future__ import annotations

import pytest

from syncjob_operator.probes import mysql

# SHOW BINLOG EVENTS IN '<oldest>' LIMIT 3, as the real MariaDB 10.11 answered.
FIRST_OF_BINLOG_1 = [
    (
        "binlog.000001",
        4,
        "Format_desc",
        1,
        256,
        "Server ver: 10.11.19-MariaDB-0+deb12u1-log, Binlog ver: 4",
    ),
    ("binlog.000001", 256, "Gtid_list", 1, 285, "[]"),
    ("binlog.000001", 285, "Binlog_checkpoint", 1, 325, "binlog.000001"),
]
FIRST_OF_BINLOG_3 = [
    (
        "binlog.000003",
        4,
        "Format_desc",
        1,
        256,
        "Server ver: 10.11.19-MariaDB-0+deb12u1-log, Binlog ver: 4",
    ),
    ("binlog.000003", 256, "Gtid_list", 1, 315, "[0-1-13,1-1-1]"),
]
# MySQL 8 has no Gtid_list event (Previous_gtids instead).
MYSQL_FIRST = [
    ("mysql-bin.000002", 4, "Format_desc", 1, 126, "Server ver: 8.0.36, Binlog ver: 4"),
    ("mysql-bin.000002", 126, "Previous_gtids", 1, 197, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5"),
]


@pytest.mark.parametrize(
    ("events", "gtids"),
    [(FIRST_OF_BINLOG_1, ""), (FIRST_OF_BINLOG_3, "0-1-13,1-1-1"), (MYSQL_FIRST, None), ([], None)],
)
def test_gtid_list_of(events: list[tuple[object, ...]], gtids: str | None) -> None:
    assert mysql.gtid_list_of(events) == gtids


def test_readers_of_the_processlist() -> None:
    rows = [
        # MariaDB's SHOW PROCESSLIST (with Progress), MySQL's (without).
        (
            27,
            "debezium",
            "127.0.0.1:33544",
            None,
            "Binlog Dump",
            12,
            "Master has sent all binlog to slave; waiting for more updates",
            None,
            0.0,
        ),
        (28, "debezium", "127.0.0.1:33550", None, "Query", 0, "starting", "SHOW PROCESSLIST", 0.0),
        (
            9,
            "repl",
            "10.0.0.7:40112",
            None,
            "Binlog Dump GTID",
            500,
            "Source has sent all binlog to replica",
            None,
        ),
        (3, "event_scheduler", "localhost", None, "Daemon", 900, "Waiting on empty queue", None),
    ]
    assert mysql.readers_of(rows) == ("debezium", "repl")
    assert mysql.readers_of([]) == ()
