"""One job's backlog probes: how far behind it is, at a bounded rate.

Why this exists: :mod:`syncjob_operator.decide.catchup` needs, on the passes
after a resume, how much the source still has to send (PostgreSQL: WAL past
the slot's ``confirmed_flush_lsn``; MySQL/MariaDB: the binlog bytes from the
offsets' ``file``/``pos`` to the end of the newest binlog), how many records
the sink connectors have yet to read (their consumer groups' lag), the
source time of the last committed change (Debezium's offsets), and the rate
at which the backlog drains.  The probes run every ``catching_up_interval``
seconds while a catch-up may be under way (never on every fast pass of a
transition) and at the resync interval otherwise; between probes the last
measure stands.  A probe that fails leaves its figure out (None) and is
logged: a backlog that cannot be read never blocks the job, and CaughtUp
says it is unknown.  SQL Server's backlog is not read: its jobs report the
sink lag and the last event time only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.backends.connect import ConnectError
from syncjob_operator.backends.kube import KubeError
from syncjob_operator.controller.shared import Shared
from syncjob_operator.decide import backlog
from syncjob_operator.decide.observed import BackendError
from syncjob_operator.probes import errors as probe_errors
from syncjob_operator.probes.connection import SourceConnection
from syncjob_operator.settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The drain rate is measured over the samples of this last stretch of time.
RATE_WINDOW = timedelta(seconds=60)
# Phases after which a catch-up may be under way (the loop probes fast then).
_RESUMING = ("Pausing", "Paused", "Resuming")


def probeable(spec: jobspec.SyncJobSpec) -> bool:
    """Whether anything about this job's backlog can be read."""
    source = spec.source
    pg = (
        source is not None
        and source.type == "postgresql"
        and source.connection_secret_ref is not None
        and source.slot_name is not None
    )
    binlog = (
        source is not None
        and source.type in ("mysql", "mariadb")
        and source.connection_secret_ref is not None
        and spec.connect is not None
    )
    sink_lag = spec.kafka is not None and bool(spec.kafka.topics) and spec.connect is not None
    return pg or binlog or sink_lag


def catching_up(previous: jobstatus.SyncJobStatus) -> bool:
    """A catch-up is, or may just be, under way: probe at the fast rate."""
    cdc = previous.cdc
    return (cdc is not None and cdc.catching_up_since is not None) or previous.phase in _RESUMING


@dataclass
class BacklogProber:
    """What one job's backlog probes keep between passes."""

    clock: Callable[[], float] = time.monotonic
    samples: deque[backlog.Sample] = field(default_factory=lambda: deque(maxlen=32))
    measure: backlog.Measure | None = None
    last_probe: float | None = None
    probes: int = 0
    failures: dict[str, str] = field(default_factory=dict)

    def due(
        self, spec: jobspec.SyncJobSpec, previous: jobstatus.SyncJobStatus, *, settings: Settings
    ) -> bool:
        """Whether this pass probes (else :meth:`current` answers the last measure at once)."""
        if not probeable(spec):
            return False
        interval = (
            settings.catching_up_interval if catching_up(previous) else settings.resync_interval
        )
        return self.last_probe is None or self.clock() - self.last_probe >= interval

    def standing(self, spec: jobspec.SyncJobSpec) -> backlog.Measure | None:
        """The last measure, for a pass that does not probe."""
        if not probeable(spec):
            self.measure = None
        return self.measure

    async def current(
        self,
        *,
        shared: Shared,
        namespace: str,
        spec: jobspec.SyncJobSpec,
        previous: jobstatus.SyncJobStatus,
        connector_types: Mapping[str, str],
        now: datetime,
    ) -> backlog.Measure | None:
        """The latest measure, probed again when its interval has passed."""
        if not self.due(spec, previous, settings=shared.settings):
            return self.standing(spec)
        self.last_probe = self.clock()
        self.probes += 1
        sample = await self._probe(
            shared=shared, namespace=namespace, spec=spec, types=connector_types, now=now
        )
        if sample.measured:
            self.samples.append(sample)
            while self.samples and sample.at - self.samples[0].at > RATE_WINDOW:
                self.samples.popleft()
        self.measure = backlog.Measure(sample, *backlog.drain_rates(list(self.samples)))
        return self.measure

    async def _probe(
        self,
        *,
        shared: Shared,
        namespace: str,
        spec: jobspec.SyncJobSpec,
        types: Mapping[str, str],
        now: datetime,
    ) -> backlog.Sample:
        names = list(spec.connect.connectors) if spec.connect is not None else []
        sources = [n for n in names if types.get(n) != "sink"]
        sinks = [n for n in names if types.get(n) == "sink"]
        offsets, sink_lag = await asyncio.gather(
            self._guard("connect", self._offsets(shared, namespace, spec, sources)),
            self._guard("kafka", self._sink_lag(shared, namespace, spec, sinks)),
        )
        source_bytes = await self._guard(
            "source", self._source_backlog(shared, namespace, spec, offsets or [])
        )
        return backlog.Sample(
            at=now,
            backlog_bytes=source_bytes,
            sink_lag=sink_lag,
            last_event_time=backlog.event_time(offsets or []),
        )

    async def _guard(self, what: str, probe: Awaitable[T]) -> T | None:
        """The probe's answer; None, logged once per new message, when it failed."""
        try:
            result = await probe
        except (probe_errors.ProbeError, ConnectError, KubeError, ValueError) as exc:
            message = str(exc)
            if self.failures.get(what) != message:
                logger.warning("backlog probe (%s) failed: %s", what, message)
            self.failures[what] = message
            return None
        self.failures.pop(what, None)
        return result

    async def _source_backlog(
        self,
        shared: Shared,
        namespace: str,
        spec: jobspec.SyncJobSpec,
        offsets: Sequence[Mapping[str, Any]],
    ) -> int | None:
        source = spec.source
        if source is None or source.connection_secret_ref is None:
            return None
        position = backlog.binlog_position(offsets)
        if source.type == "postgresql" and source.slot_name is None:
            return None
        if source.type in ("mysql", "mariadb") and position is None:
            return None  # no offsets read (yet): nothing to count from
        if source.type not in ("postgresql", "mysql", "mariadb"):
            return None
        data = await shared.kube.read_secret(namespace, source.connection_secret_ref.name)
        if data is None:
            raise ValueError(f"Secret {source.connection_secret_ref.name} does not exist")
        connection = SourceConnection.from_secret(data, source_type=source.type)
        if source.type == "postgresql":
            assert source.slot_name is not None
            from syncjob_operator.probes import postgresql

            return await postgresql.probe_backlog(connection, slot_name=source.slot_name)
        assert position is not None
        from syncjob_operator.probes import mysql

        logs = await mysql.probe_binary_logs(connection)
        return backlog.binlog_backlog(logs, position)

    async def _sink_lag(
        self, shared: Shared, namespace: str, spec: jobspec.SyncJobSpec, sinks: list[str]
    ) -> int | None:
        kafka = spec.kafka
        if kafka is None or not kafka.topics or not sinks:
            return None
        client_config = {"bootstrap.servers": kafka.bootstrap_servers}
        if kafka.config_secret_ref is not None:
            data = await shared.kube.read_secret(namespace, kafka.config_secret_ref.name)
            if data is None:
                raise ValueError(f"Secret {kafka.config_secret_ref.name} does not exist")
            client_config.update(data)
        from syncjob_operator.probes import kafka_lag

        return await kafka_lag.probe_sink_lag(client_config, connectors=sinks, topics=kafka.topics)

    async def _offsets(
        self, shared: Shared, namespace: str, spec: jobspec.SyncJobSpec, sources: list[str]
    ) -> list[Mapping[str, Any]]:
        """The source connectors' committed offsets, read now (Connect 3.5+)."""
        if spec.connect is None or not sources:
            return []
        client = await shared.connect_client(namespace, spec.connect)
        if isinstance(client, BackendError):
            return []  # no client (its Secret): the observation reports that
        offsets = await asyncio.gather(*(client.offsets(n) for n in sources))
        return [o for found in offsets if found for o in found]
