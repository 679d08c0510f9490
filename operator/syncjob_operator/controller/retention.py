"""Reads a paused job's retention from its source database and Kafka, at a bounded rate.

The glue between the probes (I/O) and the pure formulas in
:mod:`syncjob_operator.decide.retention`.  It keeps, per job, the smoothed WAL
rate between probes and the last answer, so a resync between two probes does
not touch the database.  A failed probe is reported, and falls back to
``spec.source.retention`` or to no deadline: never to a made-up one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from syncjob_operator.api import jobspec
from syncjob_operator.backends.kube import Kube, KubeError
from syncjob_operator.decide import retention
from syncjob_operator.decide.observed import BackendError
from syncjob_operator.probes import errors as probe_errors
from syncjob_operator.probes import kafka_topics, mysql, postgresql, sqlserver
from syncjob_operator.probes.connection import SourceConnection


def earliest_commit_lsn(offsets: Sequence[Mapping[str, Any]]) -> str | None:
    """The earliest ``commit_lsn`` among Debezium SQL Server source offsets; None if none has one.

    Several offsets come from several partitions (tasks) or several source
    connectors of the job. Each resumes from its own position, and the CDC
    cleanup removes changes by commit time, so the one furthest behind loses
    events first: its commit time binds the deadline. (LSNs are compared as
    their 10 bytes, which is SQL Server's order.) A commit_lsn that is not an
    LSN makes the whole answer unknown rather than letting a later one stand
    in for it: ProbeError ``InvalidCommitLsn``.

    Limit: LSNs of different databases do not compare. A connector capturing
    several databases has one offset per database, the offsets arrive without
    their partition, and the Secret names one database; an LSN of another
    database most likely maps to no time there, and the bound then counts
    from the pause (and says it may be late).
    """
    earliest: tuple[bytes, str] | None = None
    for offset in offsets:
        lsn = sqlserver.offset_commit_lsn(offset)
        if lsn is None:
            continue
        try:
            key = sqlserver.commit_lsn_bytes(lsn)
        except ValueError as exc:
            raise probe_errors.ProbeError(
                f"a source offset has an unreadable commit_lsn: {exc}", reason="InvalidCommitLsn"
            ) from None
        if earliest is None or key < earliest[0]:
            earliest = (key, lsn)
    return None if earliest is None else earliest[1]


def _error(reason: str, message: str, backend: str = "source") -> BackendError:
    return BackendError(backend, reason, message, transient=True)  # type: ignore[arg-type]


@dataclass
class RetentionProber:
    """One job's retention probing state."""

    wal_rate: retention.WalRate | None = None
    last_probe: float | None = None
    bound: retention.RetentionBound | None = None
    errors: tuple[BackendError, ...] = ()
    probes: int = field(default=0)

    def reset(self) -> None:
        self.last_probe = None
        self.bound = None
        self.errors = ()

    async def current(
        self,
        *,
        kube: Kube,
        namespace: str,
        spec: jobspec.SyncJobSpec,
        paused_at: datetime,
        now: datetime,
        interval: float,
        source_offsets: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[retention.RetentionBound | None, tuple[BackendError, ...]]:
        """The bound, probed again when ``interval`` seconds have passed since the last probe.

        ``source_offsets`` are the committed offsets of the job's source
        connectors (Kafka Connect), used for SQL Server's commit LSN and
        MySQL/MariaDB's binlog position.
        """
        due = self.last_probe is None or time.monotonic() - self.last_probe >= interval
        if due:
            self.bound, self.errors = await self._probe(
                kube=kube,
                namespace=namespace,
                spec=spec,
                paused_at=paused_at,
                now=now,
                source_offsets=source_offsets,
            )
            self.last_probe = time.monotonic()
            self.probes += 1
        return self.bound, self.errors

    async def _probe(
        self,
        *,
        kube: Kube,
        namespace: str,
        spec: jobspec.SyncJobSpec,
        paused_at: datetime,
        now: datetime,
        source_offsets: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[retention.RetentionBound | None, tuple[BackendError, ...]]:
        errs: list[BackendError] = []
        bounds: list[retention.RetentionBound | None] = []
        source = spec.source
        if source is not None:
            configured = (
                retention.configured_bound(source.retention, paused_at=paused_at)
                if source.retention is not None
                else None
            )
            database: retention.RetentionBound | None = None
            if source.connection_secret_ref is not None and source.type != "oracle":
                try:
                    database = await self._database_bound(
                        kube=kube,
                        namespace=namespace,
                        source=source,
                        paused_at=paused_at,
                        now=now,
                        source_offsets=source_offsets,
                    )
                except probe_errors.ProbeError as exc:
                    errs.append(_error(exc.reason, f"source {source.type}: {exc.message}"))
                except (KubeError, ValueError) as exc:
                    errs.append(_error("SourceSecretInvalid", f"source connection Secret: {exc}"))
            bounds.append(retention.choose_source_bound(database, configured))
        if spec.kafka is not None and spec.kafka.topics:
            try:
                bounds.append(
                    await self._kafka_bound(
                        kube=kube, namespace=namespace, kafka=spec.kafka, paused_at=paused_at
                    )
                )
            except probe_errors.ProbeError as exc:
                errs.append(_error(exc.reason, f"kafka: {exc.message}", backend="kafka"))
            except (KubeError, ValueError) as exc:
                errs.append(_error("KafkaSecretInvalid", f"kafka config Secret: {exc}", "kafka"))
        return retention.combine(bounds), tuple(errs)

    async def _database_bound(
        self,
        *,
        kube: Kube,
        namespace: str,
        source: jobspec.SourceSpec,
        paused_at: datetime,
        now: datetime,
        source_offsets: Sequence[Mapping[str, Any]] = (),
    ) -> retention.RetentionBound | None:
        assert source.connection_secret_ref is not None
        data = await kube.read_secret(namespace, source.connection_secret_ref.name)
        if data is None:
            raise ValueError(f"Secret {source.connection_secret_ref.name} does not exist")
        connection = SourceConnection.from_secret(data, source_type=source.type)
        if source.type == "postgresql":
            if not source.slot_name:
                raise ValueError("spec.source.slotName is required for postgresql")
            obs = await postgresql.probe_slot(connection, slot_name=source.slot_name)
            self.wal_rate = retention.update_wal_rate(self.wal_rate, obs.wal_sample)
            return retention.postgres_bound(obs, self.wal_rate.bytes_per_second, now=now)
        if source.type in ("mysql", "mariadb"):
            # The committed positions anchor the deadline (their ts_sec) and are
            # checked against what the server still has; without any (offsets
            # not read yet, Connect < 3.5, only Strimzi KafkaConnectors) the
            # bound counts from the pause and is not checked.
            positions = [p for p in map(retention.offset_position, source_offsets) if p is not None]
            settings, server = await mysql.probe_binlog_server(connection)
            return retention.mysql_bound(
                settings, paused_at=paused_at, positions=positions, server=server
            )
        if source.type == "sqlserver":
            # Without a commit LSN (offsets not read yet, Connect < 3.5, only
            # Strimzi KafkaConnectors) the bound counts from the pause and says so.
            minutes, commit_time = await sqlserver.probe_cdc_retention(
                connection, commit_lsn=earliest_commit_lsn(source_offsets)
            )
            return retention.sqlserver_bound(minutes, commit_time=commit_time, paused_at=paused_at)
        raise probe_errors.ProbeError(
            f"{source.type} retention is not read from the database; set spec.source.retention",
            reason="ProbeUnsupported",
        )

    async def _kafka_bound(
        self, *, kube: Kube, namespace: str, kafka: jobspec.KafkaSpec, paused_at: datetime
    ) -> retention.RetentionBound | None:
        client_config = {"bootstrap.servers": kafka.bootstrap_servers}
        if kafka.config_secret_ref is not None:
            data = await kube.read_secret(namespace, kafka.config_secret_ref.name)
            if data is None:
                raise ValueError(f"Secret {kafka.config_secret_ref.name} does not exist")
            client_config.update(data)
        topics = await kafka_topics.probe_topic_retention(client_config, topics=kafka.topics)
        return retention.kafka_bound(topics.values(), paused_at=paused_at)
