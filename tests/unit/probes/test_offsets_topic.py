"""Tables for Kafka Connect's offsets topic: its records, folded, and the stage they tell.

The records are what Connect writes (JsonConverter, schemas off): key
``["<connector>",{<source partition>}]``, value the offset object, null a
tombstone.  Debezium's partitions: ``{"server": <topic.prefix>}`` (PostgreSQL,
MySQL), ``{"server": ..., "database": ...}`` (SQL Server, one per database).
The offsets are docs/design.md's, section 3: Debezium 3.x (``snapshot`` a kind
with ``snapshot_completed``) and older (``snapshot: true``,
``last_snapshot_record``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from syncjob_operator.decide import stage
from syncjob_operator.probes.offsets_topic import OffsetsLog, parse_key, parse_value

# (topic partition, key, value): key/value as JSON values, or bytes as they are.
Rec = tuple[int, Any, Any]

PG3_SNAPSHOT = {
    "last_snapshot_record": False,
    "lsn": 23_978_144,
    "txId": 752,
    "ts_usec": 1_764_000_000_000_000,
    "snapshot": "INITIAL",
    "snapshot_completed": False,
}
PG3_STREAMING = {"lsn_proc": 23_980_400, "lsn": 23_980_400, "txId": 753, "ts_usec": 1}
PG_OLD_SNAPSHOT = {"last_snapshot_record": False, "lsn": 1, "txId": 5, "snapshot": True}
PG_OLD_LAST_SNAPSHOT_RECORD = {"last_snapshot_record": True, "lsn": 2, "snapshot": True}
MYSQL_OLD_SNAPSHOT = {"file": "binlog.000003", "pos": 157, "snapshot": True}
MYSQL3_STREAMING = {"file": "binlog.000003", "pos": 4321, "row": 1, "event": 2}
SQLSERVER3_STREAMING = {"commit_lsn": "0000002a:00000c80:0003", "change_lsn": "x"}
SQLSERVER3_SNAPSHOT = {**SQLSERVER3_STREAMING, "snapshot": "INITIAL", "snapshot_completed": False}
INCREMENTAL_DURING_CDC = {
    "lsn": 9,
    "incremental_snapshot_collections": '[{"incremental_snapshot_collections_id":"public.t"}]',
    "snapshot": "INCREMENTAL",
    "snapshot_completed": False,
}


def key(connector: str, **partition: str) -> list[Any]:
    return [connector, partition]


def fold(records: Sequence[Rec]) -> OffsetsLog:
    log = OffsetsLog()
    offsets: dict[int, int] = {}
    for partition, k, v in records:
        at = offsets.get(partition, 0)
        offsets[partition] = at + 1
        raw_key = k if isinstance(k, bytes) or k is None else json.dumps(k).encode()
        raw_value = v if isinstance(v, bytes) or v is None else json.dumps(v).encode()
        log.apply(partition, at, raw_key, raw_value)
    return log


SRC = key("src", server="e2e")


@pytest.mark.parametrize(
    ("records", "names", "expected"),
    [
        pytest.param([], ["src"], "Pending", id="empty-topic"),
        pytest.param([(0, SRC, PG3_SNAPSHOT)], ["src"], "Snapshot", id="dbz3-initial-snapshot"),
        pytest.param(
            [(0, SRC, PG3_SNAPSHOT), (0, SRC, PG3_STREAMING)],
            ["src"],
            "CDC",
            id="dbz3-last-record-wins",
        ),
        pytest.param(
            [(0, SRC, PG3_STREAMING), (0, SRC, PG3_SNAPSHOT)],
            ["src"],
            "Snapshot",
            id="dbz3-reset-and-snapshotting-again",
        ),
        pytest.param([(0, SRC, PG_OLD_SNAPSHOT)], ["src"], "Snapshot", id="old-snapshot-true"),
        pytest.param(
            [(0, SRC, PG_OLD_SNAPSHOT), (0, SRC, PG_OLD_LAST_SNAPSHOT_RECORD)],
            ["src"],
            "CDC",
            id="old-pg-last-snapshot-record",
        ),
        pytest.param(
            [(0, key("my", server="m"), MYSQL_OLD_SNAPSHOT)],
            ["my"],
            "Snapshot",
            id="old-mysql-snapshot",
        ),
        pytest.param(
            [(0, SRC, INCREMENTAL_DURING_CDC)], ["src"], "CDC", id="incremental-snapshot-is-cdc"
        ),
        # --- tombstones ---
        pytest.param(
            [(0, SRC, PG3_STREAMING), (0, SRC, None)],
            ["src"],
            "Pending",
            id="tombstone-resets-the-offsets",
        ),
        pytest.param(
            [(0, SRC, PG3_STREAMING), (0, SRC, None), (0, SRC, PG3_SNAPSHOT)],
            ["src"],
            "Snapshot",
            id="reset-then-a-new-snapshot",
        ),
        pytest.param(
            [(0, key("src", server="old"), PG3_SNAPSHOT), (0, SRC, PG3_STREAMING)],
            ["src"],
            "Snapshot",
            id="a-partition-left-over-still-counts",
        ),
        pytest.param(
            [
                (0, key("src", server="old"), PG3_SNAPSHOT),
                (0, SRC, PG3_STREAMING),
                (0, key("src", server="old"), None),
            ],
            ["src"],
            "CDC",
            id="a-partition-tombstoned-no-longer-counts",
        ),
        # --- several source partitions, several topic partitions ---
        pytest.param(
            [
                (0, key("ss", server="s", database="a"), SQLSERVER3_STREAMING),
                (1, key("ss", server="s", database="b"), SQLSERVER3_SNAPSHOT),
            ],
            ["ss"],
            "Snapshot",
            id="sqlserver-one-database-still-snapshotting",
        ),
        pytest.param(
            [
                (0, key("ss", server="s", database="a"), SQLSERVER3_STREAMING),
                (1, key("ss", server="s", database="b"), SQLSERVER3_SNAPSHOT),
                (1, key("ss", server="s", database="b"), SQLSERVER3_STREAMING),
            ],
            ["ss"],
            "CDC",
            id="sqlserver-every-database-streaming",
        ),
        # --- several connectors ---
        pytest.param(
            [(0, SRC, PG3_STREAMING), (2, key("my", server="m"), MYSQL3_STREAMING)],
            ["src", "my"],
            "CDC",
            id="two-connectors-streaming",
        ),
        pytest.param(
            [(0, SRC, PG3_STREAMING)], ["src", "my"], "Pending", id="one-connector-not-yet"
        ),
        pytest.param(
            [(0, SRC, PG3_SNAPSHOT), (1, key("other-job", server="o"), PG3_STREAMING)],
            ["src"],
            "Snapshot",
            id="another-jobs-connector-does-not-count",
        ),
        pytest.param(
            [(0, key("other-job", server="o"), PG3_SNAPSHOT), (0, SRC, PG3_STREAMING)],
            ["src"],
            "CDC",
            id="another-jobs-snapshot-does-not-hold-this-one",
        ),
        # --- records that are not Connect's are skipped ---
        pytest.param(
            [(0, SRC, PG3_STREAMING), (0, b"not json", b"{}"), (0, SRC, b"[1, 2]")],
            ["src"],
            "CDC",
            id="unreadable-records-skipped",
        ),
    ],
)
def test_records_to_stage(records: Sequence[Rec], names: list[str], expected: str) -> None:
    assert stage.topic_stage(fold(records).snapshot(), names)[0] == expected


def test_snapshot_holds_each_connectors_last_offset_per_source_partition() -> None:
    log = fold(
        [
            (0, key("ss", server="s", database="b"), {"commit_lsn": "1"}),
            (1, key("ss", server="s", database="a"), {"commit_lsn": "2"}),
            (0, key("ss", server="s", database="b"), {"commit_lsn": "3"}),
            (0, SRC, PG3_STREAMING),
            (0, b"garbage", b"{}"),
        ]
    )
    assert log.snapshot() == {
        "src": (PG3_STREAMING,),
        # Sorted by source partition: database a, then b.
        "ss": ({"commit_lsn": "2"}, {"commit_lsn": "3"}),
    }
    assert log.next == {0: 4, 1: 1}
    assert log.skipped == 1


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        (b'["src",{"server":"e2e"}]', ("src", '{"server":"e2e"}')),
        # The same partition however its keys are ordered or spaced.
        (b'["src", {"b": 1, "a": 2}]', ("src", '{"a":2,"b":1}')),
        (b'["src",null]', ("src", "null")),
        (b'{"src": 1}', None),
        (b'["src"]', None),
        (b"[1, {}]", None),
        (b"\xff\xfe", None),
        (None, None),
    ],
)
def test_parse_key(raw: bytes | None, parsed: tuple[str, str] | None) -> None:
    assert parse_key(raw) == parsed


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [(b'{"lsn": 1}', {"lsn": 1}), (b"[1]", None), (b"7", None), (b"{", None)],
)
def test_parse_value(raw: bytes, parsed: Mapping[str, Any] | None) -> None:
    assert parse_value(raw) == parsed


def test_a_partition_that_starts_over_is_read_again() -> None:
    """The topic deleted and made again: records from before where it was read to."""
    log = fold([(0, SRC, PG3_STREAMING), (0, key("b", server="b"), PG3_STREAMING)])
    assert set(log.snapshot()) == {"src", "b"}
    log.apply(0, 0, json.dumps(SRC).encode(), json.dumps(PG3_SNAPSHOT).encode())
    assert log.snapshot() == {"src": (PG3_SNAPSHOT,)}
    assert log.next == {0: 1}


def test_an_end_before_where_it_was_read_to_means_read_it_again() -> None:
    log = fold([(0, SRC, PG3_STREAMING), (0, SRC, PG3_STREAMING), (1, SRC, PG3_STREAMING)])
    assert log.end(0, 2) is False  # where it ends: nothing new
    assert log.end(1, 5) is False and log.next[1] == 5  # read past control records
    assert log.end(0, 1) is True  # shorter than what was read
    assert 0 not in log.next
