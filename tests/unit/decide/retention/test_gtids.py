"""MariaDB and MySQL GTIDs: parsing, and what a position lacks of what the server purged."""

from __future__ import annotations

import pytest

from syncjob_operator.decide.retention import gtids

U1 = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
U2 = "4c5b2e1a-0000-11ef-8000-000000000002"


@pytest.mark.parametrize(
    ("text", "positions"),
    [
        ("0-1-10", {0: 10}),
        # As the Gtid_list event shows it, and empty (the first binlog of a server).
        ("[0-1-13]", {0: 13}),
        ("[]", {}),
        ("", {}),
        # Several domains; several server ids in one domain read as the highest seq.
        ("0-1-13,1-1-1", {0: 13, 1: 1}),
        ("0-1-24,0-555555-970", {0: 970}),
        ("0-555555-970, 0-1-24\n", {0: 970}),
    ],
)
def test_mariadb_positions(text: str, positions: dict[int, int]) -> None:
    assert gtids.mariadb_positions(text) == positions


@pytest.mark.parametrize("text", ["0-1", "0-1-x", f"{U1}:1-5", "a-b-c"])
def test_mariadb_positions_refuse_what_is_not_a_gtid(text: str) -> None:
    with pytest.raises(ValueError, match="not a MariaDB GTID"):
        gtids.mariadb_positions(text)


@pytest.mark.parametrize(
    ("position", "oldest", "gaps"),
    [
        # The position is the oldest file's Gtid_list: nothing before it is needed.
        ({0: 13}, {0: 13}, []),
        ({0: 20}, {0: 13}, []),
        ({0: 13}, {}, []),
        # Below it: transactions 11..13 were in purged files only.
        ({0: 10}, {0: 13}, [gtids.DomainGap(0, 10, 13)]),
        # A domain the position lacks is read from its start (MariaDB refuses it).
        ({0: 13}, {0: 13, 1: 1}, [gtids.DomainGap(1, 0, 1)]),
        # A domain only the position names: the server has nothing older of it.
        ({0: 13, 2: 5}, {0: 13}, []),
    ],
)
def test_mariadb_gaps(
    position: dict[int, int], oldest: dict[int, int], gaps: list[gtids.DomainGap]
) -> None:
    assert gtids.mariadb_gaps(position, oldest) == gaps


@pytest.mark.parametrize(
    ("gap", "text"),
    [
        (gtids.DomainGap(0, 10, 13), "domain 0 transactions 11-13"),
        (gtids.DomainGap(1, 0, 1), "domain 1 transactions 1"),
    ],
)
def test_domain_gap_describe(gap: gtids.DomainGap, text: str) -> None:
    assert gap.describe() == text


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("", {}),
        (f"{U1}:1-5", {(U1, ""): [(1, 5)]}),
        # Intervals merge, in order; upper case uuids read as lower case.
        (f"{U1.upper()}:7:1-5:6", {(U1, ""): [(1, 7)]}),
        (f"{U1}:1-5:9-10", {(U1, ""): [(1, 5), (9, 10)]}),
        # Long sets as @@gtid_purged prints them: a newline after each comma.
        (f"{U1}:1-5,\n{U2}:1-3", {(U1, ""): [(1, 5)], (U2, ""): [(1, 3)]}),
        # MySQL 8.4 tags apply to the intervals after them.
        (f"{U1}:1-5:etl:1-2:7", {(U1, ""): [(1, 5)], (U1, "etl"): [(1, 2), (7, 7)]}),
    ],
)
def test_mysql_gtid_set(text: str, parsed: gtids.MysqlGtidSet) -> None:
    assert gtids.mysql_gtid_set(text) == parsed


@pytest.mark.parametrize("text", ["0-1-10", f"{U1}", f"{U1}:1-x", "abc:1-5", f"{U1}:1-5:-3"])
def test_mysql_gtid_set_refuses_what_is_not_one(text: str) -> None:
    with pytest.raises(ValueError, match="not a MySQL GTID set element"):
        gtids.mysql_gtid_set(text)


@pytest.mark.parametrize(
    ("purged", "position", "missing"),
    [
        ("", f"{U1}:1-100", ""),
        (f"{U1}:1-80", f"{U1}:1-100", ""),
        (f"{U1}:1-80", f"{U1}:1-100,{U2}:1-3", ""),
        # The position stopped at 50 and the server purged up to 80.
        (f"{U1}:1-80", f"{U1}:1-50", f"{U1}:51-80"),
        # Holes in the middle, and a source the position never read.
        (f"{U1}:1-80", f"{U1}:1-10:20-30:41-79", f"{U1}:11-19:31-40:80"),
        (f"{U1}:1-80,{U2}:1-3", f"{U1}:1-80", f"{U2}:1-3"),
        # A tag is a set of its own.
        (f"{U1}:etl:1-4", f"{U1}:1-4", f"{U1}:etl:1-4"),
        (f"{U1}:1-3:etl:1-4", f"{U1}:1-3:etl:1-4", ""),
    ],
)
def test_mysql_missing(purged: str, position: str, missing: str) -> None:
    got = gtids.mysql_missing(gtids.mysql_gtid_set(purged), gtids.mysql_gtid_set(position))
    assert gtids.mysql_format(got) == missing


def test_mysql_format_puts_the_untagged_intervals_first() -> None:
    text = f"{U1}:1-5:etl:1-2:7,{U2}:4"
    assert gtids.mysql_format(gtids.mysql_gtid_set(text)) == text
