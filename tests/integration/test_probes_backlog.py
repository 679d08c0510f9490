"""The backlog probes against real servers.

A PostgreSQL slot's WAL past confirmed_flush_lsn, MariaDB's binlog past a
position, a Kafka consumer group's lag.
"""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from syncjob_operator.decide import backlog
from syncjob_operator.probes import errors, kafka_lag, mysql, postgresql
from tests.env.kafka import KafkaServer
from tests.env.mariadb import MariaDBServer
from tests.env.postgres import PostgresServer
from tests.helpers.sources import mariadb_connection, pg_connection, write_wal

# The Kafka fixture's topics are made like the retention probe's.
from tests.integration.test_probes_kafka import create_topics

MiB = 1024 * 1024


async def test_the_backlog_grows_with_wal_the_slot_has_not_confirmed(
    pg_server: PostgresServer, pg_slot: str
) -> None:
    before = await postgresql.probe_backlog(pg_connection(pg_server), slot_name=pg_slot)
    assert before is not None and before >= 0
    write_wal(pg_server, 3)
    after = await postgresql.probe_backlog(pg_connection(pg_server), slot_name=pg_slot)
    # write_wal writes "about" a megabyte a message (compressed a little in the WAL).
    assert after is not None and after - before >= 2.5 * MiB


async def test_the_backlog_of_a_missing_slot_is_slot_not_found(pg_server: PostgresServer) -> None:
    with pytest.raises(errors.SlotNotFoundError):
        await postgresql.probe_backlog(pg_connection(pg_server), slot_name="no_such_slot")


def produce(kafka: KafkaServer, topic: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    for i in range(count):
        producer.produce(topic, value=f"v{i}".encode())
    assert producer.flush(30) == 0


def commit(kafka: KafkaServer, group: str, topic: str, offset: int) -> None:
    """Commit ``offset`` for ``group`` as a sink's consumer would (without joining the group)."""
    consumer = Consumer(
        {"bootstrap.servers": kafka.bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
    finally:
        consumer.close()


async def test_sink_lag_is_high_watermark_minus_committed(kafka_server: KafkaServer) -> None:
    topic = create_topics(kafka_server, {"lag": {}})["lag"]
    sink = f"sink-{uuid.uuid4().hex[:6]}"
    produce(kafka_server, topic, 10)
    config = {"bootstrap.servers": kafka_server.bootstrap}
    # Nothing committed yet: every record is still to be read.
    assert await kafka_lag.probe_sink_lag(config, connectors=[sink], topics=[topic]) == 10
    commit(kafka_server, kafka_lag.sink_group(sink), topic, 4)
    assert await kafka_lag.probe_sink_lag(config, connectors=[sink], topics=[topic]) == 6
    commit(kafka_server, kafka_lag.sink_group(sink), topic, 10)
    assert await kafka_lag.probe_sink_lag(config, connectors=[sink], topics=[topic]) == 0


async def test_sink_lag_of_a_missing_topic_is_topic_not_found(kafka_server: KafkaServer) -> None:
    config = {"bootstrap.servers": kafka_server.bootstrap}
    with pytest.raises(errors.TopicNotFoundError):
        await kafka_lag.probe_sink_lag(config, connectors=["s"], topics=["no-such-topic-x"])


async def test_binlog_backlog_counts_what_was_written_past_a_position(
    mariadb_server: MariaDBServer,
) -> None:
    connection = mariadb_connection(mariadb_server)
    logs = await mysql.probe_binary_logs(connection)
    assert logs, "the server has the binary log on"
    position = logs[-1]  # the end of the newest binlog, as a caught-up offset would say
    assert backlog.binlog_backlog(logs, position) == 0
    table = f"backlog_{uuid.uuid4().hex[:6]}"
    with mariadb_server.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS backlog_probe")
        cur.execute(f"CREATE TABLE backlog_probe.{table} (id int PRIMARY KEY, v longtext)")
        cur.execute(f"INSERT INTO backlog_probe.{table} VALUES (1, REPEAT('x', 200000))")
        conn.commit()
        cur.execute(f"DROP TABLE backlog_probe.{table}")
    after = backlog.binlog_backlog(await mysql.probe_binary_logs(connection), position)
    assert after is not None and after >= 200_000
