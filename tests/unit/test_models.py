"""Tables for the v1alpha1 models: which SyncJob specs parse, and which are refused where.

Only what pydantic checks is here (types, enums, patterns, lengths, unknown
fields).  The CEL rules (at least one way to pause, a Secret where a probe
needs one, autoResumeBefore < warnBefore ...) are enforced by the API server
and tested against a real one in tests/integration.
"""

from __future__ import annotations

import copy
import re
from datetime import timedelta
from typing import Any

import pydantic
import pytest

from syncjob_operator.api import fields, jobstatus, v1alpha1

CONNECT = {"url": "http://connect.kafka.svc:8083", "connectors": ["orders-source", "orders-sink"]}
WORKLOAD = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "orders-debezium"}

FULL: dict[str, Any] = {
    "paused": True,
    "pauseMode": "Stop",
    "connect": {
        "url": "https://connect.kafka.svc:8443/base",
        "authSecretRef": {"name": "connect-auth"},
        "connectors": ["orders-source", "orders-sink"],
        "requestTimeout": "2500ms",
    },
    "workloads": [
        WORKLOAD,
        {"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaConnect", "name": "connect"},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "orders-sink.v2"},
    ],
    "kafkaConnectors": [{"name": "orders-source"}],
    "source": {
        "type": "postgresql",
        "connectionSecretRef": {"name": "orders-source-db"},
        "slotName": "debezium_orders",
        "retention": "72h",
    },
    "kafka": {
        "bootstrapServers": "kafka-0.kafka:9092,kafka-1.kafka:9092,[::1]:9093",
        "configSecretRef": {"name": "kafka-client"},
        "topics": ["orders.public.orders"],
    },
    "retentionPolicy": {"warnBefore": "6h", "autoResumeBefore": "30m"},
    "onDelete": "Leave",
}


# --- valid specs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param({"connect": CONNECT}, id="connect-only-minimal"),
        pytest.param(
            {"connect": {"url": "http://c:8083", "connectors": ["a"]}}, id="one-connector"
        ),
        pytest.param({"workloads": [WORKLOAD]}, id="workloads-only"),
        pytest.param({"kafkaConnectors": [{"name": "orders-source"}]}, id="kafka-connectors-only"),
        pytest.param(FULL, id="full"),
        pytest.param(
            {"connect": {"url": "http://c:8083", "connectors": ["Orders Source v2"]}},
            id="connector-name-with-inner-space-and-capitals",
        ),
        pytest.param(
            {"connect": CONNECT, "source": {"type": "oracle", "retention": "168h"}},
            id="oracle-with-retention",
        ),
        pytest.param(
            {"connect": CONNECT, "source": {"type": "mysql", "retention": "1h30m"}},
            id="composite-duration",
        ),
        pytest.param(
            {"connect": CONNECT, "retentionPolicy": {"warnBefore": "1.5h"}},
            id="fractional-duration",
        ),
        pytest.param(
            {"workloads": [{"apiVersion": "v1", "kind": "ReplicationController", "name": "rc"}]},
            id="core-api-version",
        ),
        pytest.param({"connect": CONNECT, "paused": False, "pauseMode": "Pause"}, id="defaults"),
        pytest.param({}, id="no-way-to-pause-is-for-cel-not-pydantic"),
    ],
)
def test_valid_spec_parses(raw: dict[str, Any]) -> None:
    spec = v1alpha1.parse_spec(copy.deepcopy(raw))
    # The wire form round-trips: what the operator reads back is what was given.
    assert v1alpha1.parse_spec(v1alpha1.dump(spec)) == spec


def test_defaults() -> None:
    spec = v1alpha1.parse_spec({"connect": CONNECT})
    assert spec.paused is False
    assert spec.pause_mode == "Pause"
    assert spec.on_delete == "Resume"
    assert spec.retention_policy.warn_before == timedelta(hours=6)
    assert spec.retention_policy.auto_resume_before is None
    assert spec.connect is not None and spec.connect.request_timeout == timedelta(seconds=10)
    assert spec.workloads == [] and spec.kafka_connectors == []


def test_full_spec_fields() -> None:
    spec = v1alpha1.parse_spec(copy.deepcopy(FULL))
    assert spec.paused is True and spec.pause_mode == "Stop"
    assert spec.connect is not None and spec.connect.auth_secret_ref is not None
    assert spec.connect.auth_secret_ref.name == "connect-auth"
    assert [w.kind for w in spec.workloads] == ["Deployment", "KafkaConnect", "StatefulSet"]
    assert spec.source is not None and spec.source.slot_name == "debezium_orders"
    assert spec.kafka is not None and spec.kafka.topics == ["orders.public.orders"]
    # Connect's usual offsets topic; the source connectors from spec.connect/kafkaConnectors.
    assert spec.kafka.offsets_topic == "connect-offsets" and spec.kafka.source_connectors == []
    assert spec.retention_policy.auto_resume_before == timedelta(minutes=30)
    # camelCase on the wire, and nothing unset is written.
    dumped = v1alpha1.dump(spec)
    assert dumped["connect"]["authSecretRef"] == {"name": "connect-auth"}
    assert dumped["retentionPolicy"] == {"warnBefore": "6h", "autoResumeBefore": "30m"}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("6h", timedelta(hours=6)),
        ("30m", timedelta(minutes=30)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        ("2500ms", timedelta(seconds=2.5)),
    ],
)
def test_durations_are_timedeltas_and_go_syntax_on_the_wire(text: str, value: timedelta) -> None:
    spec = v1alpha1.parse_spec({"connect": CONNECT, "retentionPolicy": {"warnBefore": text}})
    assert spec.retention_policy.warn_before == value
    written = v1alpha1.dump(spec)["retentionPolicy"]["warnBefore"]
    # Go syntax the API's pattern admits, read back to the same value.
    assert re.fullmatch(fields.DURATION_PATTERN, written)
    assert v1alpha1.parse_spec(v1alpha1.dump(spec)).retention_policy.warn_before == value


def test_defaults_are_written_as_they_are_documented() -> None:
    dumped = v1alpha1.dump(v1alpha1.parse_spec({"connect": CONNECT}))
    assert dumped["retentionPolicy"] == {"warnBefore": "6h"}
    assert dumped["connect"]["requestTimeout"] == "10s"


def test_models_are_frozen() -> None:
    spec = v1alpha1.parse_spec({"connect": CONNECT})
    with pytest.raises(pydantic.ValidationError):
        spec.paused = True  # type: ignore[misc]


# --- invalid specs ----------------------------------------------------------------------


def with_(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of ``base`` (a valid connect-only spec) with one dotted path set."""
    raw = copy.deepcopy(base if base is not None else {"connect": CONNECT})
    *parents, last = path.split(".")
    node: Any = raw
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return raw


INVALID = [
    # durations: Go syntax only
    pytest.param(
        with_("retentionPolicy.warnBefore", "6 hours"),
        ("retentionPolicy", "warnBefore"),
        id="duration-words",
    ),
    pytest.param(
        with_("retentionPolicy.warnBefore", "2d"),
        ("retentionPolicy", "warnBefore"),
        id="duration-days-not-go-syntax",
    ),
    pytest.param(
        with_("retentionPolicy.autoResumeBefore", "-5m"),
        ("retentionPolicy", "autoResumeBefore"),
        id="duration-negative",
    ),
    pytest.param(
        with_("retentionPolicy.warnBefore", "72"),
        ("retentionPolicy", "warnBefore"),
        id="duration-no-unit",
    ),
    pytest.param(
        with_("retentionPolicy.warnBefore", "PT6H"),
        ("retentionPolicy", "warnBefore"),
        id="duration-iso8601",
    ),
    pytest.param(
        with_("source", {"type": "oracle", "retention": "3w"}),
        ("source", "retention"),
        id="duration-weeks",
    ),
    pytest.param(
        with_("connect.requestTimeout", ""), ("connect", "requestTimeout"), id="duration-empty"
    ),
    # enums
    pytest.param(with_("pauseMode", "pause"), ("pauseMode",), id="pause-mode-lower-case"),
    pytest.param(with_("pauseMode", "Suspend"), ("pauseMode",), id="pause-mode-unknown"),
    pytest.param(with_("onDelete", "Delete"), ("onDelete",), id="on-delete-unknown"),
    pytest.param(
        with_("source", {"type": "postgres", "retention": "1h"}),
        ("source", "type"),
        id="source-type-postgres",
    ),
    pytest.param(
        with_("source", {"type": "MySQL", "retention": "1h"}),
        ("source", "type"),
        id="source-type-capitalised",
    ),
    pytest.param(
        with_("source", {"retention": "1h"}), ("source", "type"), id="source-type-missing"
    ),
    pytest.param(with_("paused", "maybe"), ("paused",), id="paused-not-a-boolean"),
    # connectors
    pytest.param(
        with_("connect.connectors", [""]), ("connect", "connectors", 0), id="connector-name-empty"
    ),
    pytest.param(
        with_("connect.connectors", [" orders"]),
        ("connect", "connectors", 0),
        id="connector-name-leading-space",
    ),
    pytest.param(
        with_("connect.connectors", ["a/b"]),
        ("connect", "connectors", 0),
        id="connector-name-slash",
    ),
    pytest.param(
        with_("connect.connectors", []), ("connect", "connectors"), id="connectors-empty-list"
    ),
    pytest.param(
        {"connect": {"url": "http://c:8083"}}, ("connect", "connectors"), id="connectors-missing"
    ),
    pytest.param(
        with_("connect.connectors", ["c"] * 51), ("connect", "connectors"), id="too-many-connectors"
    ),
    # URLs
    pytest.param(with_("connect.url", "connect:8083"), ("connect", "url"), id="url-no-scheme"),
    pytest.param(
        with_("connect.url", "ftp://connect:8083"), ("connect", "url"), id="url-wrong-scheme"
    ),
    pytest.param(
        with_("connect.url", "http://connect :8083"), ("connect", "url"), id="url-with-space"
    ),
    pytest.param({"connect": {"connectors": ["a"]}}, ("connect", "url"), id="url-missing"),
    # names and refs
    pytest.param(
        with_("connect.authSecretRef", {"name": "Connect_Auth"}),
        ("connect", "authSecretRef", "name"),
        id="secret-name-not-dns",
    ),
    pytest.param(
        with_("connect.authSecretRef", {}),
        ("connect", "authSecretRef", "name"),
        id="secret-ref-without-name",
    ),
    pytest.param(
        {"workloads": [{**WORKLOAD, "name": "Orders"}]},
        ("workloads", 0, "name"),
        id="workload-name-capital",
    ),
    pytest.param(
        {"workloads": [{**WORKLOAD, "kind": "deployment"}]},
        ("workloads", 0, "kind"),
        id="workload-kind-lower-case",
    ),
    pytest.param(
        {"workloads": [{**WORKLOAD, "apiVersion": "apps"}]},
        ("workloads", 0, "apiVersion"),
        id="workload-api-version-no-version",
    ),
    pytest.param(
        {"workloads": [{"apiVersion": "apps/v1", "name": "x"}]},
        ("workloads", 0, "kind"),
        id="workload-kind-missing",
    ),
    pytest.param(
        {"kafkaConnectors": [{"name": ""}]},
        ("kafkaConnectors", 0, "name"),
        id="kafka-connector-name-empty",
    ),
    pytest.param(
        with_("source", {"type": "postgresql", "retention": "1h", "slotName": "Debezium-Orders"}),
        ("source", "slotName"),
        id="slot-name-not-identifier",
    ),
    pytest.param(
        with_("kafka", {"bootstrapServers": "kafka"}),
        ("kafka", "bootstrapServers"),
        id="bootstrap-without-port",
    ),
    pytest.param(
        with_("kafka", {"bootstrapServers": "kafka:9092;kafka2:9092"}),
        ("kafka", "bootstrapServers"),
        id="bootstrap-bad-separator",
    ),
    pytest.param(
        with_("kafka", {"bootstrapServers": "kafka:9092", "offsetsTopic": "connect offsets"}),
        ("kafka", "offsetsTopic"),
        id="offsets-topic-not-a-topic-name",
    ),
    pytest.param(
        with_("kafka", {"bootstrapServers": "kafka:9092", "sourceConnectors": ["a/b"]}),
        ("kafka", "sourceConnectors", 0),
        id="source-connector-name-with-slash",
    ),
    # unknown fields, at every level
    pytest.param(with_("pausd", True), ("pausd",), id="extra-field-typo"),
    pytest.param(
        with_("connect.username", "admin"), ("connect", "username"), id="extra-field-in-connect"
    ),
    pytest.param(
        {"workloads": [{**WORKLOAD, "replicas": 2}]},
        ("workloads", 0, "replicas"),
        id="extra-field-in-workload",
    ),
    pytest.param(
        with_("retentionPolicy.warnAfter", "1h"),
        ("retentionPolicy", "warnAfter"),
        id="extra-field-in-retention-policy",
    ),
    pytest.param(with_("status", {"phase": "Paused"}), ("status",), id="status-is-not-spec"),
]


@pytest.mark.parametrize(("raw", "loc"), INVALID)
def test_invalid_spec_is_refused_at_the_field(raw: dict[str, Any], loc: tuple[Any, ...]) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        v1alpha1.parse_spec(raw)
    locs = [tuple(e["loc"]) for e in caught.value.errors()]
    assert any(found[: len(loc)] == loc for found in locs), locs


# --- status -----------------------------------------------------------------------------


def test_status_ignores_keys_it_does_not_own() -> None:
    status = v1alpha1.parse_status(
        {"phase": "Paused", "kopf": {"progress": {}}, "syncjob_daemon": {"x": 1}}
    )
    assert status.phase == "Paused"


@pytest.mark.parametrize("raw", [None, {}], ids=["none", "empty"])
def test_empty_status(raw: dict[str, Any] | None) -> None:
    assert v1alpha1.parse_status(raw) == jobstatus.SyncJobStatus()
    assert v1alpha1.dump(v1alpha1.parse_status(raw)) == {
        "connectors": [],
        "workloads": [],
        "kafkaConnectors": [],
        "conditions": [],
    }


@pytest.mark.parametrize(
    ("raw", "loc"),
    [
        pytest.param({"phase": "Suspended"}, ("phase",), id="phase-unknown"),
        pytest.param({"stage": "Streaming"}, ("stage",), id="stage-unknown"),
        pytest.param(
            {
                "conditions": [
                    {"type": "Ready", "status": "Yes", "reason": "R", "lastTransitionTime": "t"}
                ]
            },
            ("conditions", 0, "status"),
            id="condition-status-not-true-false-unknown",
        ),
    ],
)
def test_invalid_status_is_refused(raw: dict[str, Any], loc: tuple[Any, ...]) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        v1alpha1.parse_status(raw)
    assert any(tuple(e["loc"])[: len(loc)] == loc for e in caught.value.errors())


def test_status_round_trips_in_camel_case() -> None:
    raw = {
        "observedGeneration": 3,
        "stage": "CDC",
        "phase": "Paused",
        "pausedAt": "2026-11-24T10:00:00Z",
        "retentionDeadline": "2026-11-27T10:00:00Z",
        "retention": {
            "basis": "postgresql:safe_wal_size",
            "message": "",
            "retainedBytes": 1048576,
            "safeBytes": 1073741824,
            "lost": False,
        },
        "connectors": [
            {
                "name": "orders-source",
                "state": "PAUSED",
                "tasks": [{"id": 0, "state": "PAUSED", "workerId": "w1:8083"}],
            }
        ],
        "workloads": [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "orders-debezium",
                "replicas": 0,
                "savedReplicas": 2,
                "readyReplicas": 0,
            }
        ],
        "kafkaConnectors": [],
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Paused",
                "message": "",
                "lastTransitionTime": "2026-11-24T10:00:00Z",
                "observedGeneration": 3,
            }
        ],
    }
    assert v1alpha1.dump(v1alpha1.parse_status(copy.deepcopy(raw))) == raw


def test_a_status_from_a_newer_operator_is_read_not_dropped() -> None:
    # A rollback, or an older replica of a mixed-version pair, reads a status
    # with fields it does not know: it keeps what it knows (pausedAt above all).
    raw = {
        "phase": "Paused",
        "pausedAt": "2026-11-24T10:00:00Z",
        "retention": {"basis": "postgresql:safe_wal_size", "someNewFigure": 7},
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Paused",
                "lastTransitionTime": "2026-11-24T10:00:00Z",
                "newField": "x",
            }
        ],
        "newTopLevel": {"a": 1},
    }
    status = v1alpha1.parse_status(raw)
    assert status.paused_at == "2026-11-24T10:00:00Z"
    assert status.retention is not None
    assert status.retention.basis == "postgresql:safe_wal_size"
    assert [c.reason for c in status.conditions] == ["Paused"]
