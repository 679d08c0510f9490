"""Reads a paused job's retention from its source database and Kafka, at a bounded rate.

The glue between the probes (I/O) and the pure formulas in
:mod:`syncjob_operator.decide.retention`.  It keeps, per job, the smoothed WAL
rate between probes and the last answer, so a resync between two probes does
not touch the database.  A failed probe is reported, and falls back to
``spec.source.retention`` or to no deadline: never to a made-up one.

The WAL rate outlives the process through status: the rate and the sample it
was measured up to are written with the deadline, and a prober that has
measured nothing yet starts from them (:meth:`RetentionProber.seed`), so the
first pass after a restart or a leader change shows the same deadline.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from syncjob_operator import units
from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.backends.kube import Kube, KubeError
from syncjob_operator.decide import retention
from syncjob_operator.decide.observed import BackendError
from syncjob_operator.probes import errors as probe_errors
from syncjob_operator.probes import sqlserver_rows
from syncjob_operator.probes.connection import SourceConnection

if TYPE_CHECKING:
    from syncjob_operator.probes.kafka_clients import SharedAdmin


class KafkaAdmins(Protocol):
    """Where kept Kafka admin clients come from (:class:`~.shared.Shared`)."""

    async def kafka_admin(
        self, namespace: str, kafka: jobspec.KafkaSpec, config: Mapping[str, str]
    ) -> SharedAdmin: ...

    def kafka_failed(
        self, namespace: str, kafka: jobspec.KafkaSpec, config: Mapping[str, str]
    ) -> None: ...


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
        lsn = sqlserver_rows.offset_commit_lsn(offset)
        if lsn is None:
            continue
        try:
            key = sqlserver_rows.commit_lsn_bytes(lsn)
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

    def seed(self, shown: jobstatus.RetentionStatus | None) -> None:
        """Go on from the WAL rate that status shows, while this process has measured none.

        A status that does not carry a whole sample (another source, an older
        operator, a hand edit) leaves the rate to be measured afresh.
        """
        if self.wal_rate is not None or shown is None:
            return
        try:
            sampled_at = units.parse_time(shown.wal_sampled_at)
        except ValueError:
            return
        self.wal_rate = retention.carried_wal_rate(
            shown.wal_bytes_per_second, shown.wal_sample_lsn, sampled_at
        )

    async def postgres_bound(
        self, connection: SourceConnection, *, slot_name: str, now: datetime
    ) -> retention.RetentionBound:
        """Read the slot, fold its WAL sample into the rate, and bound it."""
        from syncjob_operator.probes import postgresql

        obs = await postgresql.probe_slot(connection, slot_name=slot_name)
        self.wal_rate = retention.update_wal_rate(self.wal_rate, obs.wal_sample)
        return retention.postgres_bound(obs, self.wal_rate.bytes_per_second, now=now)

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
        kafka_admins: KafkaAdmins | None = None,
        sink_connectors: Sequence[str] = (),
    ) -> tuple[retention.RetentionBound | None, tuple[BackendError, ...]]:
        """The bound, probed again when ``interval`` seconds have passed since the last probe.

        ``source_offsets`` are the committed offsets of the job's source
        connectors (Kafka Connect), used for SQL Server's commit LSN and
        MySQL/MariaDB's binlog position;
        ``sink_connectors`` the names of its sink connectors there, whose
        consumer groups anchor the Kafka deadline unless
        ``spec.kafka.sinkConsumerGroups`` names them.
        ``kafka_admins`` gives kept Kafka clients; without, each Kafka probe
        makes and closes its own.
        """
        if self.last_probe is not None and time.monotonic() - self.last_probe < interval:
            return self.bound, self.errors
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
                        kube=kube,
                        namespace=namespace,
                        kafka=spec.kafka,
                        paused_at=paused_at,
                        admins=kafka_admins,
                        groups=sink_groups(spec.kafka, sink_connectors),
                    )
                )
            except probe_errors.ProbeError as exc:
                errs.append(_error(exc.reason, f"kafka: {exc.message}", backend="kafka"))
            except (KubeError, ValueError) as exc:
                errs.append(_error("KafkaSecretInvalid", f"kafka config Secret: {exc}", "kafka"))
        self.bound, self.errors = retention.combine(bounds), tuple(errs)
        self.last_probe = time.monotonic()
        self.probes += 1
        return self.bound, self.errors

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
            return await self.postgres_bound(connection, slot_name=source.slot_name, now=now)
        if source.type in ("mysql", "mariadb"):
            # The committed positions anchor the deadline (their ts_sec) and are
            # checked against what the server still has; without any (offsets
            # not read yet, Connect < 3.5, only Strimzi KafkaConnectors) the
            # bound counts from the pause and is not checked.
            positions = [p for p in map(retention.offset_position, source_offsets) if p is not None]
            from syncjob_operator.probes import mysql

            settings, server = await mysql.probe_binlog_server(connection)
            return retention.mysql_bound(
                settings, paused_at=paused_at, positions=positions, server=server
            )
        if source.type == "sqlserver":
            # Without a commit LSN (offsets not read yet, Connect < 3.5, only
            # Strimzi KafkaConnectors) the bound counts from the pause and says
            # so, and whether the cleanup passed the position is not checked.
            from syncjob_operator.probes import sqlserver

            cdc = await sqlserver.probe_cdc_retention(
                connection, commit_lsn=earliest_commit_lsn(source_offsets)
            )
            return retention.sqlserver_bound(
                cdc.retention_minutes,
                commit_time=cdc.commit_time,
                paused_at=paused_at,
                commit_lsn=cdc.commit_lsn,
                cleanup=cdc.cleanup,
            )
        raise probe_errors.ProbeError(
            f"{source.type} retention is not read from the database; set spec.source.retention",
            reason="ProbeUnsupported",
        )

    async def _kafka_bound(
        self,
        *,
        kube: Kube,
        namespace: str,
        kafka: jobspec.KafkaSpec,
        paused_at: datetime,
        admins: KafkaAdmins | None = None,
        groups: Sequence[str],
    ) -> retention.RetentionBound | None:
        # Read at every probe (every retention interval), not cached: a fixed
        # or rotated Secret is used at the next probe.
        client_config = {"bootstrap.servers": kafka.bootstrap_servers}
        if kafka.config_secret_ref is not None:
            data = await kube.read_secret(namespace, kafka.config_secret_ref.name)
            if data is None:
                raise ValueError(f"Secret {kafka.config_secret_ref.name} does not exist")
            client_config.update(data)
        admin: SharedAdmin | None = None
        if admins is not None:
            admin = await admins.kafka_admin(namespace, kafka, client_config)
        try:
            from syncjob_operator.probes import kafka_topics

            topics = await kafka_topics.probe_topic_retention(
                client_config, topics=kafka.topics, admin=admin
            )
        except probe_errors.ProbeError as exc:
            if admins is not None and not isinstance(exc, probe_errors.TopicNotFoundError):
                admins.kafka_failed(namespace, kafka, client_config)
            raise
        return retention.kafka_bound(
            topics.values(),
            paused_at=paused_at,
            sinks=await _sink_positions(client_config, topics=kafka.topics, groups=groups),
        )


def sink_groups(kafka: jobspec.KafkaSpec, sink_connectors: Sequence[str]) -> list[str]:
    """The sinks' consumer groups: as the spec names them, else Kafka Connect's default names.

    Connect names a sink connector's group ``connect-<connector name>``
    unless the connector sets ``consumer.override.group.id``, which only the
    spec can then say.
    """
    if kafka.sink_consumer_groups:
        return list(kafka.sink_consumer_groups)
    return [f"connect-{name}" for name in sink_connectors]


async def _sink_positions(
    client_config: Mapping[str, str], *, topics: Sequence[str], groups: Sequence[str]
) -> retention.SinkPositions:
    """Where the sinks stand, or why that cannot be read (the bound then counts from the pause)."""
    if not groups:
        return retention.SinkPositions(
            unknown="no sink consumer group is known: set spec.kafka.sinkConsumerGroups, or list "
            "the sink connector in spec.connect"
        )
    try:
        from syncjob_operator.probes import kafka_sinks

        return await kafka_sinks.probe_sink_positions(client_config, topics=topics, groups=groups)
    except probe_errors.ProbeError as exc:
        return retention.SinkPositions(
            groups=tuple(groups),
            unknown=f"reading consumer group {', '.join(groups)} failed: {exc.message}",
        )
