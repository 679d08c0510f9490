"""The Kafka probe as the prober uses it: which consumer groups, and what happens when they fail.

The probe's reading of a real broker is tested against one
(tests/integration/test_probes_kafka.py); these take its answers as given
(the probe functions replaced by recorded answers) and check the glue: the
sinks' groups named by the spec or derived from Connect's sink connectors,
the fall-back to the pause when the groups cannot be read, and the JobLoop
handing over its sink connectors.  One test does real I/O: a closed port.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from syncjob_operator.api import jobspec, jobstatus, v1alpha1
from syncjob_operator.backends.kube import Kube
from syncjob_operator.controller import retention as controller_retention
from syncjob_operator.controller.loop import JobLoop
from syncjob_operator.controller.retention import RetentionProber
from syncjob_operator.controller.shared import Shared
from syncjob_operator.decide import retention
from syncjob_operator.decide.observed import ConnectorState
from syncjob_operator.probes import errors, kafka_sinks, kafka_topics
from syncjob_operator.settings import Settings
from tests.env.processes import free_port

PAUSED_AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
TOPIC = "sales.public.orders"


def kafka_spec(**kafka: Any) -> jobspec.SyncJobSpec:
    return v1alpha1.parse_spec(
        {
            "paused": True,
            "connect": {"url": "http://connect:8083", "connectors": ["src", "sink"]},
            "kafka": {"bootstrapServers": "kafka:9092", "topics": [TOPIC], **kafka},
        }
    )


@pytest.mark.parametrize(
    ("kafka", "sinks", "groups"),
    [
        ({}, ["orders-sink"], ["connect-orders-sink"]),
        ({}, ["a", "b"], ["connect-a", "connect-b"]),
        ({}, [], []),
        # Named in the spec (a consumer.override.group.id, or no Connect): exactly those.
        ({"sinkConsumerGroups": ["mongo-orders"]}, ["orders-sink"], ["mongo-orders"]),
    ],
)
def test_sink_groups(kafka: dict[str, Any], sinks: list[str], groups: list[str]) -> None:
    spec = kafka_spec(**kafka)
    assert spec.kafka is not None
    assert controller_retention.sink_groups(spec.kafka, sinks) == groups


class Recorded:
    """The two Kafka probes, answering from recorded results."""

    def __init__(self, positions: retention.SinkPositions | errors.ProbeError) -> None:
        self.positions = positions
        self.asked: list[tuple[list[str], list[str]]] = []

    async def topic_retention(
        self,
        client_config: Mapping[str, str],
        *,
        topics: Iterable[str],
        timeout_s: float = 15,
        admin: object = None,
    ) -> dict[str, retention.TopicRetention]:
        return {t: retention.TopicRetention(t, retention_ms=3_600_000) for t in topics}

    async def sink_positions(
        self,
        client_config: Mapping[str, str],
        *,
        topics: Iterable[str],
        groups: Iterable[str],
        timeout_s: float = 15,
    ) -> retention.SinkPositions:
        self.asked.append((list(topics), list(groups)))
        if isinstance(self.positions, errors.ProbeError):
            raise self.positions
        return self.positions


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    lagging = retention.PartitionPosition(
        TOPIC, 0, "connect-sink", 4, 0, 9, PAUSED_AT - timedelta(minutes=30)
    )
    answers = Recorded(retention.SinkPositions(positions=(lagging,), groups=("connect-sink",)))
    monkeypatch.setattr(kafka_topics, "probe_topic_retention", answers.topic_retention)
    monkeypatch.setattr(kafka_sinks, "probe_sink_positions", answers.sink_positions)
    return answers


class NoSecrets:
    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        return None


def run_prober(
    spec: jobspec.SyncJobSpec, sinks: list[str]
) -> tuple[retention.RetentionBound | None, tuple[Any, ...]]:
    return asyncio.run(
        RetentionProber().current(
            kube=cast(Kube, NoSecrets()),
            namespace="ns",
            spec=spec,
            paused_at=PAUSED_AT,
            now=PAUSED_AT + timedelta(minutes=5),
            interval=30.0,
            sink_connectors=sinks,
        )
    )


def test_prober_anchors_at_the_sinks_group(recorded: Recorded) -> None:
    bound, errs = run_prober(kafka_spec(), ["sink"])
    assert errs == ()
    assert recorded.asked == [([TOPIC], ["connect-sink"])]
    assert bound is not None and bound.basis == retention.KAFKA_RETENTION
    assert (bound.deadline, bound.checked) == (PAUSED_AT + timedelta(minutes=30), True)


def test_prober_without_a_sink_counts_from_the_pause(recorded: Recorded) -> None:
    bound, errs = run_prober(kafka_spec(), [])
    assert errs == () and recorded.asked == []
    assert bound is not None
    assert (bound.deadline, bound.checked) == (PAUSED_AT + timedelta(hours=1), False)
    assert "set spec.kafka.sinkConsumerGroups" in bound.message


def test_prober_counts_from_the_pause_when_the_group_cannot_be_read(
    recorded: Recorded,
) -> None:
    recorded.positions = errors.AuthenticationFailedError(
        "Kafka at kafka:9092 refused the client: Broker: Group authorization failed"
    )
    bound, errs = run_prober(kafka_spec(sinkConsumerGroups=["mongo-orders"]), ["sink"])
    assert recorded.asked == [([TOPIC], ["mongo-orders"])]
    # The deadline still stands (from the pause); the message says why it may be late.
    assert errs == ()
    assert bound is not None
    assert (bound.deadline, bound.checked) == (PAUSED_AT + timedelta(hours=1), False)
    assert "reading consumer group mongo-orders failed" in bound.message
    assert "Group authorization failed" in bound.message and "may be late" in bound.message


class FakeConnect:
    serves_offsets = True

    async def observe(
        self,
        names: list[str],
        *,
        with_offsets: bool,
        types: dict[str, str],
        in_rounds: bool = False,
    ) -> tuple[list[ConnectorState], list[Any]]:
        return [
            ConnectorState(name="src", state="PAUSED", type="source"),
            ConnectorState(name="sink", state="PAUSED", type="sink"),
        ], []

    async def listing(self) -> dict[str, ConnectorState]:
        states, _ = await self.observe(["src", "sink"], with_offsets=False, types={})
        return {c.name: c for c in states}

    def from_listing(
        self, names: list[str], listed: dict[str, ConnectorState]
    ) -> tuple[list[ConnectorState], list[Any]]:
        return [listed[n] for n in names], []

    async def add_offsets(
        self, states: list[ConnectorState], *, in_rounds: bool = False
    ) -> tuple[list[ConnectorState], list[Any]]:
        return states, []


def test_job_loop_passes_its_sink_connectors(monkeypatch: pytest.MonkeyPatch) -> None:
    async def connect_client(namespace: str, spec: jobspec.ConnectSpec) -> FakeConnect:
        return FakeConnect()

    shared = Shared(kube=cast(Kube, NoSecrets()), settings=Settings())
    monkeypatch.setattr(shared, "connect_client", connect_client)
    loop = JobLoop(shared=shared, namespace="ns", name="job", emit=lambda e: None)
    seen: list[list[str]] = []

    async def current(**kwargs: Any) -> tuple[None, tuple[()]]:
        seen.append(list(kwargs["sink_connectors"]))
        return None, ()

    monkeypatch.setattr(loop.prober, "current", current)
    spec = kafka_spec()
    previous = jobstatus.SyncJobStatus(
        phase="Paused", stage="CDC", paused_at="2026-11-24T10:00:00Z"
    )

    async def one_pass() -> None:
        await loop.observe(spec, previous)
        await loop._retention(spec, previous, PAUSED_AT + timedelta(hours=1))

    asyncio.run(one_pass())
    assert seen == [["sink"]]


def test_no_broker_is_source_unreachable() -> None:
    with pytest.raises(errors.SourceUnreachableError) as info:
        asyncio.run(
            kafka_sinks.probe_sink_positions(
                {"bootstrap.servers": f"127.0.0.1:{free_port()}", "sasl.password": "hunter2-pw"},
                topics=[TOPIC],
                groups=["connect-sink"],
                timeout_s=3,
            )
        )
    assert "127.0.0.1" in str(info.value) and "hunter2-pw" not in str(info.value)
