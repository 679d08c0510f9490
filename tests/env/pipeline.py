"""The real change-data pipeline for end-to-end tests: Kafka, Kafka Connect, FerretDB.

Why this exists: the operator pauses and resumes real Debezium connectors
through the real Kafka Connect REST API and reads their real source offsets to
tell Snapshot from CDC (docs/design.md).  Mocks would encode our own guesses
about that API, so the e2e tests run the real thing, strung together here:

* a Kafka 4.x broker in KRaft mode (:mod:`tests.env.kafka`),
* a distributed Kafka Connect worker with the Debezium PostgreSQL source and
  the MongoDB sink on its plugin path (:mod:`tests.env.connect`),
* FerretDB (SQLite backend) as the MongoDB-wire target (:mod:`tests.env.ferretdb`),

all on free 127.0.0.1 ports, with their files and logs under a state directory
the caller gives.  The jars and the FerretDB binary come from
``tests/env/fetch-pipeline.sh`` (:mod:`tests.env.artifacts`, which runs it when
the cache is missing); the connector configs from :mod:`tests.env.connectors`.
PostgreSQL comes from :mod:`tests.env.postgres`.

Every process runs under :mod:`tests.env.processes`: each start waits for
readiness with a bound and raises with the tail of the log on failure.
Typical use from a session fixture::

    from tests.env import pipeline, postgres
    pg = postgres.start_postgres(tmp / "pg")
    p = pipeline.Pipeline.start(tmp / "pipeline", postgres=pg)
    p.connect.put_connector("src", p.postgres_source_config(...))
    ...
    p.stop(); pg.stop()
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.env import artifacts, connectors
from tests.env.connect import ConnectWorker, start_connect
from tests.env.ferretdb import FerretDB, start_ferretdb
from tests.env.kafka import KafkaServer, start_kafka

if TYPE_CHECKING:
    from tests.env.postgres import PostgresServer


@dataclass
class Pipeline:
    """Kafka + Connect + FerretDB (+ the caller's PostgreSQL), with connector config helpers."""

    state_dir: Path
    kafka: KafkaServer
    connect: ConnectWorker
    ferretdb: FerretDB
    postgres: PostgresServer | None = None

    @classmethod
    def start(
        cls,
        state_dir: Path,
        *,
        postgres: PostgresServer | None = None,
        fetch: bool = True,
        connect_props: Mapping[str, str] | None = None,
    ) -> Pipeline:
        """Start FerretDB, Kafka, then Connect (stopping what started if a later step fails)."""
        if fetch:
            artifacts.ensure_fetched()
        state = Path(state_dir).resolve()
        started: list[Any] = []
        try:
            ferret = start_ferretdb(state)
            started.append(ferret)
            kafka = start_kafka(state)
            started.append(kafka)
            connect = start_connect(state, kafka.bootstrap, extra_props=connect_props)
            started.append(connect)
        except BaseException:
            for s in reversed(started):
                s.stop()
            raise
        return cls(state, kafka, connect, ferret, postgres)

    def stop(self) -> None:
        """Connect first (it commits offsets on the way down), then Kafka, then FerretDB."""
        for part in (self.connect, self.kafka, self.ferretdb):
            part.stop()

    def _parts(self) -> dict[str, KafkaServer | ConnectWorker | FerretDB]:
        return {"ferretdb": self.ferretdb, "kafka": self.kafka, "connect": self.connect}

    def start_times(self) -> dict[str, float]:
        return {name: part.process.started_in_s for name, part in self._parts().items()}

    def rss_bytes(self) -> dict[str, int]:
        return {name: part.process.rss_bytes() for name, part in self._parts().items()}

    def postgres_source_config(
        self,
        *,
        topic_prefix: str,
        tables: list[str],
        slot_name: str,
        publication_name: str | None = None,
        dbname: str | None = None,
        postgres: PostgresServer | None = None,
        heartbeat_table: str | None = None,
        **overrides: str,
    ) -> dict[str, str]:
        """:func:`tests.env.connectors.postgres_source` on this pipeline's PostgreSQL."""
        pg = postgres or self.postgres
        if pg is None:
            raise ValueError("no PostgreSQL server: pass postgres= here or to Pipeline.start")
        return connectors.postgres_source(
            pg,
            topic_prefix=topic_prefix,
            tables=tables,
            slot_name=slot_name,
            publication_name=publication_name,
            dbname=dbname,
            heartbeat_table=heartbeat_table,
            **overrides,
        )

    def mongo_sink_config(
        self,
        *,
        topics: list[str],
        database: str,
        collection: str | None = None,
        key_field: str | None = "id",
        **overrides: str,
    ) -> dict[str, str]:
        """:func:`tests.env.connectors.mongo_sink` into this pipeline's FerretDB."""
        return connectors.mongo_sink(
            self.ferretdb.uri,
            topics=topics,
            database=database,
            collection=collection,
            key_field=key_field,
            **overrides,
        )


@contextlib.contextmanager
def running_pipeline(
    state_dir: Path, *, postgres: PostgresServer | None = None
) -> Iterator[Pipeline]:
    """``with running_pipeline(dir, postgres=pg) as p: ...``: started, then always stopped."""
    p = Pipeline.start(state_dir, postgres=postgres)
    try:
        yield p
    finally:
        p.stop()
