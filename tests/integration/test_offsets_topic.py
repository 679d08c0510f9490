"""The stage read from a real Kafka topic, written the way Kafka Connect writes its offsets.

A KRaft broker from tests/env/kafka.py.  The test writes what a Connect
worker writes to its ``offset.storage.topic`` (tests/helpers/offsets.py):
JSON keys ``["<connector>",{<source partition>}]`` and offsets, null to
reset, in transactions as an exactly-once worker does.  Then the reader
folds it (last value per key) and the stage follows.  The e2e test
(tests/e2e/test_stage_from_offsets_topic.py) reads a topic the real
Connect worker wrote.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from syncjob_operator.controller.offsets import OffsetsTopics
from syncjob_operator.decide import stage
from syncjob_operator.probes import errors
from syncjob_operator.probes.offsets_topic import OffsetsTopicReader
from tests.env.kafka import KafkaServer
from tests.env.processes import free_port
from tests.helpers.offsets import SNAPSHOT, STREAMING, offsets_topic, write


def config(kafka: KafkaServer) -> dict[str, str]:
    return {"bootstrap.servers": kafka.bootstrap}


async def test_the_stage_follows_the_records_and_a_refresh_reads_only_what_is_new(
    kafka_server: KafkaServer,
) -> None:
    topic = offsets_topic(kafka_server)
    # Two jobs' connectors, one with two source partitions (as SQL Server's per database).
    write(
        kafka_server,
        topic,
        [
            ("src-a", "a", SNAPSHOT),
            ("src-b", "b1", STREAMING),
            ("src-b", "b2", SNAPSHOT),
            ("other", "o", STREAMING),
        ],
    )
    reader = OffsetsTopicReader(config(kafka_server), topic)
    try:
        started = time.monotonic()
        offsets = await reader.refresh(timeout_s=20)
        print(f"\nfirst read of {reader.records} records: {time.monotonic() - started:.2f}s")
        assert reader.records == 4
        assert stage.topic_stage(offsets, ["src-a"])[0] == "Snapshot"
        assert stage.topic_stage(offsets, ["src-b"])[0] == "Snapshot"
        assert stage.topic_stage(offsets, ["other"])[0] == "CDC"
        assert stage.topic_stage(offsets, ["never-written"])[0] == "Pending"

        write(kafka_server, topic, [("src-a", "a", STREAMING), ("src-b", "b2", STREAMING)])
        started = time.monotonic()
        offsets = await reader.refresh(timeout_s=20)
        print(f"refresh with 2 new records: {time.monotonic() - started:.2f}s")
        assert reader.records == 6  # the two new ones only
        assert stage.topic_stage(offsets, ["src-a", "src-b"]) == ("CDC", "")
        assert len(offsets["src-b"]) == 2

        # Nothing new: nothing read, the same answer.
        again = await reader.refresh(timeout_s=20)
        assert reader.records == 6 and again == offsets

        # Offsets reset (DELETE /connectors/{n}/offsets writes tombstones): Pending again.
        write(kafka_server, topic, [("src-a", "a", None)])
        offsets = await reader.refresh(timeout_s=20)
        assert "src-a" not in offsets
        assert stage.topic_stage(offsets, ["src-a"])[0] == "Pending"
    finally:
        reader.close()


async def test_transactions_of_an_exactly_once_worker_count_once_committed(
    kafka_server: KafkaServer,
) -> None:
    topic = offsets_topic(kafka_server)
    write(kafka_server, topic, [("eos", "e", SNAPSHOT)], transactional=f"t-{topic}-1")
    reader = OffsetsTopicReader(config(kafka_server), topic)
    try:
        assert stage.topic_stage(await reader.refresh(timeout_s=20), ["eos"])[0] == "Snapshot"
        # A transaction still open: the read ends at the last stable offset, in time.
        open_txn = write(
            kafka_server,
            topic,
            [("eos", "e", STREAMING)],
            transactional=f"t-{topic}-2",
            commit=False,
        )
        assert stage.topic_stage(await reader.refresh(timeout_s=20), ["eos"])[0] == "Snapshot"
        open_txn.commit_transaction(30)
        assert stage.topic_stage(await reader.refresh(timeout_s=20), ["eos"])[0] == "CDC"
        # An aborted one never counts.
        aborted = write(
            kafka_server,
            topic,
            [("eos", "e", SNAPSHOT)],
            transactional=f"t-{topic}-3",
            commit=False,
        )
        aborted.abort_transaction(30)
        assert stage.topic_stage(await reader.refresh(timeout_s=20), ["eos"])[0] == "CDC"
    finally:
        reader.close()


async def test_a_topic_made_again_is_read_again(kafka_server: KafkaServer) -> None:
    topic = offsets_topic(kafka_server, partitions=1)
    write(
        kafka_server,
        topic,
        [("src", "s", SNAPSHOT), ("src", "s", STREAMING), ("x", "x", STREAMING)],
    )
    reader = OffsetsTopicReader(config(kafka_server), topic)
    try:
        assert set(await reader.refresh(timeout_s=20)) == {"src", "x"}
        admin = AdminClient(config(kafka_server))
        for future in admin.delete_topics([topic], operation_timeout=30).values():
            future.result(timeout=30)
        deadline = time.monotonic() + 60
        while True:  # the deletion is asynchronous in the broker: retry the creation
            try:
                futures = admin.create_topics(
                    [NewTopic(topic, num_partitions=1, replication_factor=1)], request_timeout=30
                )
                next(iter(futures.values())).result(timeout=30)
                break
            except Exception:
                assert time.monotonic() < deadline, "the topic could not be made again"
                await asyncio.sleep(0.5)
        write(kafka_server, topic, [("src", "s", SNAPSHOT)])
        deadline = time.monotonic() + 60
        offsets: Any = None
        while offsets is None or set(offsets) != {"src"}:
            assert time.monotonic() < deadline, f"the new topic was not read again: {offsets}"
            try:
                offsets = await reader.refresh(timeout_s=10)
            except errors.ProbeError:
                offsets = None  # the broker's metadata may lag behind the new topic
            await asyncio.sleep(0.2)
        assert stage.topic_stage(offsets, ["src"])[0] == "Snapshot"
    finally:
        reader.close()


async def test_a_missing_topic_is_named_and_says_what_to_set(kafka_server: KafkaServer) -> None:
    reader = OffsetsTopicReader(config(kafka_server), f"no-such-{uuid.uuid4().hex[:8]}")
    try:
        with pytest.raises(errors.ProbeError) as info:
            await reader.refresh(timeout_s=10)
    finally:
        reader.close()
    assert info.value.reason == "OffsetsTopicNotFound"
    assert "set spec.kafka.offsetsTopic" in info.value.message


async def test_no_broker_is_unreachable_within_the_bound_and_keeps_the_password() -> None:
    reader = OffsetsTopicReader(
        {"bootstrap.servers": f"127.0.0.1:{free_port()}", "sasl.password": "hunter2-secret"},
        "connect-offsets",
    )
    started = time.monotonic()
    try:
        with pytest.raises(errors.ProbeError) as info:
            await reader.refresh(timeout_s=3)
    finally:
        reader.close()
    assert time.monotonic() - started < 15
    assert info.value.reason in ("KafkaUnreachable", "OffsetsTopicTimeout"), info.value
    assert "hunter2-secret" not in info.value.message


async def test_one_reader_per_cluster_topic_and_credentials_serves_every_job(
    kafka_server: KafkaServer,
) -> None:
    topic = offsets_topic(kafka_server)
    write(kafka_server, topic, [("src", "s", SNAPSHOT)])
    clock = [1000.0]
    topics = OffsetsTopics(clock=lambda: clock[0], idle_after=600.0)
    try:
        # Ten jobs of one cluster in one resync interval: one read.
        for _ in range(10):
            found, error = await topics.read(config=config(kafka_server), topic=topic, max_age=30)
            assert error is None and found is not None
            assert stage.topic_stage(found, ["src"])[0] == "Snapshot"
        assert topics.reads == 1

        # A job waiting for CDC may take 5 s old answers only: read again once that is past.
        write(kafka_server, topic, [("src", "s", STREAMING)])
        clock[0] += 4
        found, _ = await topics.read(config=config(kafka_server), topic=topic, max_age=5)
        assert topics.reads == 1 and found is not None
        assert stage.topic_stage(found, ["src"])[0] == "Snapshot"
        clock[0] += 2
        found, _ = await topics.read(config=config(kafka_server), topic=topic, max_age=5)
        assert topics.reads == 2 and found is not None
        assert stage.topic_stage(found, ["src"])[0] == "CDC"

        # Other credentials are another reader.
        other = {**config(kafka_server), "client.id": "another-tenant"}
        await topics.read(config=other, topic=topic, max_age=30)
        assert topics.reads == 3 and len(topics._entries) == 2

        # Nobody asked for the first one for longer than idle_after: it is closed.
        clock[0] += 300
        await topics.read(config=other, topic=topic, max_age=0)
        clock[0] += 400
        await topics.read(config=other, topic=topic, max_age=30)
        assert len(topics._entries) == 1
    finally:
        await topics.close()


async def test_a_failed_read_is_kept_as_long_as_a_good_one() -> None:
    clock = [0.0]
    topics = OffsetsTopics(clock=lambda: clock[0], read_timeout=2)
    unreachable = {"bootstrap.servers": f"127.0.0.1:{free_port()}"}
    try:
        found, error = await topics.read(config=unreachable, topic="connect-offsets", max_age=5)
        assert found is None and error is not None
        assert error.backend == "kafka" and error.transient
        again, same = await topics.read(config=unreachable, topic="connect-offsets", max_age=5)
        assert again is None and same == error
        assert topics.reads == 1
    finally:
        await topics.close()
