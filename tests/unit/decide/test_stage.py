"""Tables for the stage (Pending, Snapshot, CDC) read from Debezium's committed offsets.

The offsets are shaped as ``GET /connectors/{n}/offsets`` returns them (the
``offset`` part of each partition), for Debezium 3.x (``snapshot`` as a kind
plus ``snapshot_completed``) and for older releases (``snapshot: true``).
Then which connectors a job's stage is read from, and where: Kafka Connect's
REST API, its offsets topic, or nowhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from syncjob_operator.api import jobspec, jobstatus, v1alpha1
from syncjob_operator.decide import stage
from syncjob_operator.decide.observed import ConnectorState, Observed

# --- one committed offset -------------------------------------------------------------

# Debezium 3.x PostgreSQL while the initial snapshot runs.
PG3_SNAPSHOT = {
    "last_snapshot_record": False,
    "lsn": 23_978_144,
    "txId": 752,
    "ts_usec": 1_764_000_000_000_000,
    "snapshot": "INITIAL",
    "snapshot_completed": False,
}
# ... once streaming has started: no snapshot key any more.
PG3_STREAMING = {
    "lsn_proc": 23_980_400,
    "lsn_commit": 23_980_400,
    "lsn": 23_980_400,
    "txId": 753,
    "ts_usec": 1_764_000_100_000_000,
}
# ... Debezium 3.x MySQL during and after.
MYSQL3_SNAPSHOT = {
    "file": "binlog.000003",
    "pos": 157,
    "snapshot": "INITIAL",
    "snapshot_completed": False,
}
MYSQL3_STREAMING = {"file": "binlog.000003", "pos": 4321, "row": 1, "event": 2, "ts_sec": 1}


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        pytest.param(PG3_SNAPSHOT, "Snapshot", id="dbz3-pg-initial-running"),
        pytest.param(MYSQL3_SNAPSHOT, "Snapshot", id="dbz3-mysql-initial-running"),
        pytest.param(PG3_STREAMING, "CDC", id="dbz3-pg-streaming-no-snapshot-key"),
        pytest.param(MYSQL3_STREAMING, "CDC", id="dbz3-mysql-streaming"),
        pytest.param(
            {"lsn": 1, "snapshot": "INITIAL", "snapshot_completed": True},
            "CDC",
            id="dbz3-initial-completed",
        ),
        pytest.param({"lsn": 1, "snapshot_completed": True}, "CDC", id="completed-without-kind"),
        pytest.param({"lsn": 1, "snapshot": "INITIAL"}, "Snapshot", id="initial-no-completed-key"),
        pytest.param(
            {"lsn": 1, "snapshot": "INCREMENTAL", "snapshot_completed": True},
            "CDC",
            id="dbz3-incremental-during-cdc",
        ),
        pytest.param(
            {"lsn": 1, "snapshot": "INCREMENTAL", "snapshot_completed": False},
            "CDC",
            id="incremental-not-completed-is-still-cdc",
        ),
        pytest.param({"lsn": 1, "snapshot": "incremental"}, "CDC", id="incremental-lower-case"),
        pytest.param(
            {"lsn": 1, "snapshot": "BLOCKING", "snapshot_completed": False},
            "Snapshot",
            id="dbz3-blocking-snapshot-running",
        ),
        pytest.param({"lsn": 1, "snapshot": True}, "Snapshot", id="old-snapshot-true"),
        pytest.param(
            {"lsn": 1, "snapshot": True, "last_snapshot_record": False},
            "Snapshot",
            id="old-pg-not-last-record",
        ),
        pytest.param(
            {"lsn": 1, "snapshot": True, "last_snapshot_record": True},
            "CDC",
            id="old-pg-last-snapshot-record",
        ),
        pytest.param({"lsn": 1, "snapshot": False}, "CDC", id="old-snapshot-false"),
        pytest.param({"lsn": 1, "snapshot": None}, "CDC", id="snapshot-null"),
        pytest.param({"lsn": 1, "snapshot": "true"}, "Snapshot", id="string-true"),
        pytest.param({"lsn": 1, "snapshot": "false"}, "CDC", id="string-false"),
        pytest.param({"lsn": 1, "snapshot": ""}, "CDC", id="string-empty"),
        pytest.param(
            {"lsn": 1, "snapshot": "INITIAL", "snapshot_completed": "true"},
            "CDC",
            id="completed-string-true",
        ),
        pytest.param(
            {"lsn": 1, "snapshot": "INITIAL", "snapshot_completed": "false"},
            "Snapshot",
            id="completed-string-false",
        ),
        pytest.param(
            {"lsn": 1, "snapshot": "true", "last_snapshot_record": "true"},
            "CDC",
            id="last-record-string-true",
        ),
        pytest.param({}, "CDC", id="empty-offset-has-no-snapshot-key"),
    ],
)
def test_offset_stage(offset: Mapping[str, Any], expected: str) -> None:
    assert stage.offset_stage(offset) == expected


# --- one connector over its partitions --------------------------------------------------


@pytest.mark.parametrize(
    ("offsets", "expected"),
    [
        pytest.param([], "Pending", id="no-offsets-yet"),
        pytest.param([PG3_SNAPSHOT], "Snapshot", id="one-partition-snapshot"),
        pytest.param([PG3_STREAMING], "CDC", id="one-partition-streaming"),
        pytest.param([PG3_STREAMING, PG3_SNAPSHOT], "Snapshot", id="any-snapshotting-wins"),
        pytest.param([PG3_STREAMING, MYSQL3_STREAMING], "CDC", id="all-partitions-streaming"),
    ],
)
def test_connector_stage(offsets: list[Mapping[str, Any]], expected: str) -> None:
    assert stage.connector_stage(offsets) == expected


# --- the job over its connectors --------------------------------------------------------


def source(name: str, *offsets: Mapping[str, Any] | None) -> ConnectorState:
    """A source connector; ``source(name, None)``: its offsets were not read."""
    if offsets == (None,):
        return ConnectorState(name=name, state="RUNNING", type="source", offsets=None)
    return ConnectorState(name=name, state="RUNNING", type="source", offsets=offsets)  # type: ignore[arg-type]


def unread(name: str, type_: str | None = "source") -> ConnectorState:
    """A connector whose offsets were not read (Connect unreachable, or not asked)."""
    return ConnectorState(name=name, state="Unknown", type=type_, offsets=None)


def sink(name: str, *offsets: Mapping[str, Any]) -> ConnectorState:
    return ConnectorState(name=name, state="RUNNING", type="sink", offsets=offsets)


@pytest.mark.parametrize(
    ("connectors", "expected"),
    [
        pytest.param([], "Unknown", id="no-connectors"),
        pytest.param([source("src")], "Pending", id="no-offsets-pending"),
        pytest.param([source("src", PG3_SNAPSHOT)], "Snapshot", id="snapshot"),
        pytest.param([source("src", PG3_STREAMING)], "CDC", id="cdc"),
        pytest.param([unread("src")], "Unknown", id="offsets-not-read"),
        pytest.param([sink("sink", {"kafka_offset": 5})], "Unknown", id="only-a-sink"),
        pytest.param(
            [source("src", PG3_STREAMING), sink("sink")], "CDC", id="sink-without-offsets-ignored"
        ),
        pytest.param(
            [source("src", PG3_STREAMING), sink("sink", {"snapshot": True})],
            "CDC",
            id="sink-offsets-ignored",
        ),
        pytest.param(
            [source("a", PG3_STREAMING), source("b", MYSQL3_SNAPSHOT)],
            "Snapshot",
            id="mixed-one-snapshotting",
        ),
        pytest.param([source("a", PG3_STREAMING), source("b")], "Pending", id="mixed-one-pending"),
        pytest.param(
            [source("a", PG3_SNAPSHOT), source("b")], "Snapshot", id="mixed-snapshot-beats-pending"
        ),
        pytest.param(
            [source("a", PG3_STREAMING), source("b", MYSQL3_STREAMING)],
            "CDC",
            id="mixed-all-streaming",
        ),
        pytest.param(
            [source("a", PG3_STREAMING), unread("b")], "CDC", id="unread-connector-skipped"
        ),
        pytest.param(
            [ConnectorState(name="x", state="RUNNING", type=None, offsets=(PG3_SNAPSHOT,))],
            "Snapshot",
            id="type-not-known-counts-as-source",
        ),
    ],
)
def test_job_stage(connectors: list[ConnectorState], expected: str) -> None:
    assert stage.job_stage(connectors) == expected


# --- which connectors, and where their offsets are read ---------------------------------


def spec_of(**raw: Any) -> jobspec.SyncJobSpec:
    return v1alpha1.parse_spec(
        {"workloads": [{"apiVersion": "apps/v1", "kind": "D", "name": "d"}], **raw}
    )


CONNECT = {"url": "http://connect:8083", "connectors": ["src", "sink"]}
KAFKA = {"bootstrapServers": "kafka:9092"}


@pytest.mark.parametrize(
    ("raw", "connectors", "names"),
    [
        pytest.param(
            {"connect": CONNECT},
            [source("src"), sink("sink")],
            ("src",),
            id="connect-sinks-left-out",
        ),
        pytest.param({"connect": CONNECT}, [], ("src", "sink"), id="connect-types-not-known-yet"),
        pytest.param(
            {"kafkaConnectors": [{"name": "kc-src"}, {"name": "kc-sink"}]},
            [
                ConnectorState("kc-src", "RUNNING", type="source"),
                ConnectorState("kc-sink", "RUNNING", type="sink"),
            ],
            ("kc-src",),
            id="strimzi-named-after-the-kafkaconnector",
        ),
        pytest.param(
            {"connect": {**CONNECT, "connectors": ["sink"]}, "kafkaConnectors": [{"name": "kc"}]},
            [sink("sink")],
            ("kc",),
            id="sinks-in-connect-sources-in-strimzi",
        ),
        pytest.param(
            {"connect": CONNECT, "kafka": {**KAFKA, "sourceConnectors": ["x", "y"]}},
            [source("src"), sink("sink")],
            ("x", "y"),
            id="named-in-spec-kafka-wins",
        ),
        pytest.param({}, [], (), id="workloads-only"),
    ],
)
def test_source_names(
    raw: dict[str, Any], connectors: list[ConnectorState], names: tuple[str, ...]
) -> None:
    assert stage.source_names(spec_of(**raw), connectors) == names


@pytest.mark.parametrize(
    ("raw", "connectors", "serves", "way"),
    [
        pytest.param(
            {"connect": CONNECT}, [source("src"), sink("sink")], True, "connect", id="connect-3.5"
        ),
        pytest.param(
            {"connect": CONNECT, "kafka": KAFKA},
            [source("src")],
            True,
            "connect",
            id="connect-3.5-kafka-unused",
        ),
        pytest.param(
            {"connect": CONNECT}, [source("src")], False, None, id="connect-older-no-kafka"
        ),
        pytest.param(
            {"connect": CONNECT, "kafka": KAFKA},
            [source("src")],
            False,
            "topic",
            id="connect-older-kafka",
        ),
        pytest.param(
            {"kafkaConnectors": [{"name": "kc"}], "kafka": KAFKA},
            [],
            True,
            "topic",
            id="strimzi-kafka",
        ),
        pytest.param({"kafkaConnectors": [{"name": "kc"}]}, [], True, None, id="strimzi-no-kafka"),
        pytest.param(
            {"connect": CONNECT, "kafkaConnectors": [{"name": "kc"}], "kafka": KAFKA},
            [source("src"), sink("sink")],
            True,
            "topic",
            id="a-source-connect-does-not-run-is-read-from-the-topic",
        ),
        pytest.param(
            {"kafka": {**KAFKA, "sourceConnectors": ["pg"]}},
            [],
            True,
            "topic",
            id="workloads-kafka-named",
        ),
        pytest.param({"kafka": KAFKA}, [], True, None, id="workloads-kafka-none-named"),
        pytest.param({}, [], True, None, id="workloads-only"),
        pytest.param(
            {"connect": {**CONNECT, "connectors": ["sink"]}},
            [sink("sink")],
            True,
            None,
            id="only-sinks",
        ),
    ],
)
def test_way(
    raw: dict[str, Any], connectors: list[ConnectorState], serves: bool, way: str | None
) -> None:
    assert stage.way(spec_of(**raw), connectors, connect_serves_offsets=serves) == way


@pytest.mark.parametrize(
    ("offsets", "names", "expected", "detail"),
    [
        pytest.param({}, [], "Unknown", "", id="no-connector"),
        pytest.param(
            {}, ["a"], "Pending", "no committed offset of connector a yet", id="no-record"
        ),
        pytest.param(
            {"a": ()},
            ["a"],
            "Pending",
            "no committed offset of connector a yet",
            id="all-tombstoned",
        ),
        pytest.param({"a": (PG3_STREAMING,)}, ["a"], "CDC", "", id="streaming"),
        pytest.param(
            {"a": (PG3_SNAPSHOT,), "b": (MYSQL3_SNAPSHOT,), "c": (PG3_STREAMING,)},
            ["a", "b", "c"],
            "Snapshot",
            "connectors a, b still in the initial snapshot",
            id="two-snapshotting",
        ),
        pytest.param(
            {"a": (PG3_STREAMING,)},
            ["a", "b"],
            "Pending",
            "no committed offset of connector b yet",
            id="one-pending",
        ),
        pytest.param(
            {"a": (PG3_SNAPSHOT,), "other": (PG3_STREAMING,)},
            ["a"],
            "Snapshot",
            "connector a still in the initial snapshot",
            id="other-jobs-connectors-ignored",
        ),
    ],
)
def test_topic_stage(
    offsets: dict[str, tuple[Mapping[str, Any], ...]], names: list[str], expected: str, detail: str
) -> None:
    assert stage.topic_stage(offsets, names) == (expected, detail)


@pytest.mark.parametrize(
    ("raw", "observed", "previous", "expected", "readable"),
    [
        pytest.param(
            {"connect": CONNECT},
            Observed(connectors=(source("src", PG3_SNAPSHOT),)),
            None,
            "Snapshot",
            True,
            id="connect",
        ),
        pytest.param(
            {"connect": CONNECT},
            Observed(connectors=(unread("src"),)),
            "CDC",
            "CDC",
            True,
            id="connect-unread-keeps-last",
        ),
        pytest.param(
            {"connect": CONNECT, "kafka": KAFKA},
            Observed(
                connectors=(source("src", None), sink("sink")),
                connect_without_offsets=True,
                topic_offsets={"src": (PG3_STREAMING,)},
            ),
            "Snapshot",
            "CDC",
            True,
            id="old-connect-topic",
        ),
        pytest.param(
            {"connect": CONNECT, "kafka": KAFKA},
            Observed(
                connectors=(source("src", None), ConnectorState("sink", "Unknown")),
                connect_without_offsets=True,
                topic_offsets={"src": (PG3_STREAMING,)},
                connector_types={"src": "source", "sink": "sink"},
            ),
            "Snapshot",
            "CDC",
            True,
            id="old-connect-topic-a-sink-unread-this-pass-is-still-a-sink",
        ),
        pytest.param(
            {"connect": CONNECT},
            Observed(connectors=(source("src", None),), connect_without_offsets=True),
            "Snapshot",
            "Unknown",
            False,
            id="old-connect-no-kafka-is-unknown-whatever-was-before",
        ),
        pytest.param(
            {"kafka": {**KAFKA, "sourceConnectors": ["pg"]}},
            Observed(topic_offsets=None),
            "Snapshot",
            "Snapshot",
            True,
            id="topic-unread-keeps-last",
        ),
        pytest.param(
            {"kafka": {**KAFKA, "sourceConnectors": ["pg"]}},
            Observed(topic_offsets=None),
            None,
            "Unknown",
            True,
            id="topic-never-read",
        ),
        pytest.param({}, Observed(), "CDC", "Unknown", False, id="workloads-only"),
    ],
)
def test_reported(
    raw: dict[str, Any], observed: Observed, previous: str | None, expected: str, readable: bool
) -> None:
    reading = stage.reported(
        spec_of(**raw),
        observed,
        jobstatus.SyncJobStatus(stage=previous),  # type: ignore[arg-type]
    )
    assert (reading.stage, reading.readable) == (expected, readable)
