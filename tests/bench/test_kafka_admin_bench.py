"""Benchmark: the topic-retention probe with a new AdminClient each time vs one kept client.

Against the real secured broker (tests/env/secured.py: SASL_SSL with the
PLAIN API key and the CA, as for Confluent Cloud, and SCRAM-SHA-512), the
same ``probe_topic_retention`` call the operator makes, run back to back:

* new: a client made and closed per probe (TCP, TLS handshake, SASL exchange
  and a metadata round trip each time), as the operator did before it kept
  its clients;
* kept: one ``SharedAdmin`` made once, as ``Shared.kafka_admin`` gives it.

Prints probes per second of each and their ratio, per SASL mechanism. Bounded
in count and time; no assertion on time: a benchmark measures, it does not
judge (``make bench``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from syncjob_operator.probes import kafka_clients, kafka_topics
from tests.env import pipeline, secured

NEW_PROBES = 40
KEPT_PROBES = 400
BOUND_S = 30.0  # per series: stop early rather than run long on a slow machine
TOPIC = "bench-retention"


@pytest.fixture(scope="module")
def secured_kafka(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[pipeline.KafkaServer, secured.Security]]:
    pipeline.ensure_fetched()
    state: Path = tmp_path_factory.mktemp("bench-secured")
    security = secured.Security.create(state / "tls")
    kafka = secured.start_secured_kafka(state, security)
    yield kafka, security
    kafka.stop()


async def rate(probe_once: Callable[[], Awaitable[None]], count: int) -> tuple[int, float]:
    """Probes done and their rate, within ``count`` and BOUND_S."""
    started = time.monotonic()
    done = 0
    while done < count and time.monotonic() - started < BOUND_S:
        await probe_once()
        done += 1
    return done, done / (time.monotonic() - started)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
async def test_kept_admin_client_vs_a_new_one_per_probe(
    secured_kafka: tuple[pipeline.KafkaServer, secured.Security], mechanism: str
) -> None:
    kafka, security = secured_kafka
    data = security.confluent_secret() if mechanism == "PLAIN" else security.scram_secret()
    config = {"bootstrap.servers": kafka.bootstrap, **data}
    topics = [TOPIC]
    # The topic exists before either series: the first probe must not create it.
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient(config)
    for future in admin.create_topics([NewTopic(TOPIC, 1, 1)]).values():
        try:
            future.result(timeout=30)
        except Exception as exc:  # already there from the other mechanism's run
            assert "already exists" in str(exc).lower(), exc
    del admin

    async def new_each_time() -> None:
        await kafka_topics.probe_topic_retention(config, topics=topics)

    kept = kafka_clients.SharedAdmin(config)

    async def through_kept() -> None:
        await kafka_topics.probe_topic_retention(config, topics=topics, admin=kept)

    await through_kept()  # its one handshake, outside the measurement
    new_n, new_rate = await rate(new_each_time, NEW_PROBES)
    kept_n, kept_rate = await rate(through_kept, KEPT_PROBES)
    kept.close()
    print(
        f"\n[bench] retention probe over SASL_SSL/{mechanism}: "
        f"new AdminClient per probe {new_rate:.1f}/s ({new_n} probes), "
        f"kept AdminClient {kept_rate:.1f}/s ({kept_n} probes), "
        f"ratio {kept_rate / new_rate:.1f}x"
    )
    assert new_n > 0 and kept_n > 0
