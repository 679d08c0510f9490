"""The offsets topics the jobs' stages are read from: one reader per cluster, topic and credentials.

Why this exists: many jobs share one Kafka cluster and one Connect offsets
topic, and a consumer per job would read the same records once per job.  Here
one :class:`~syncjob_operator.probes.offsets_topic.OffsetsTopicReader` per
(bootstrap servers, offsets topic, credentials) serves every job, and reads
again only when what it holds is older than the asking job may take: the
stage poll interval while that job waits for CDC, the resync interval
otherwise (the caller says which).  A failed read is kept as long as a good
one would be, so a Kafka that is down is not asked again by every job.  A
reader no job has asked for in ``idle_after`` seconds is closed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from syncjob_operator.api import jobspec
from syncjob_operator.backends.kube import KubeError
from syncjob_operator.decide.observed import BackendError
from syncjob_operator.probes import errors as probe_errors

if TYPE_CHECKING:
    # librdkafka is loaded by the first reader (see Topics.read), not by importing this.
    from syncjob_operator.probes import offsets_topic

READ_TIMEOUT_S = 10.0
IDLE_AFTER_S = 600.0

SecretReader = Callable[[str, str], Awaitable[dict[str, str] | None]]


async def client_config(
    *, secret: SecretReader, namespace: str, kafka: jobspec.KafkaSpec
) -> dict[str, str] | BackendError:
    """The librdkafka config of spec.kafka: its bootstrap servers and its Secret's settings."""
    config = {"bootstrap.servers": kafka.bootstrap_servers}
    ref = kafka.config_secret_ref
    if ref is None:
        return config
    try:
        data = await secret(namespace, ref.name)
    except KubeError as exc:
        return BackendError(
            "secrets", "SecretUnreadable", f"reading Secret {ref.name}: {exc.message}", True
        )
    if data is None:
        return BackendError(
            "secrets",
            "SecretNotFound",
            f"Secret {ref.name} (spec.kafka.configSecretRef) does not exist in namespace "
            f"{namespace}",
            transient=False,
        )
    return {**data, **config}


@dataclass
class _Entry:
    reader: offsets_topic.OffsetsTopicReader
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    read_at: float | None = None
    offsets: offsets_topic.Offsets | None = None
    error: BackendError | None = None
    used_at: float = 0.0


@dataclass
class OffsetsTopics:
    """Every offsets topic reader of the operator process."""

    clock: Callable[[], float] = time.monotonic
    read_timeout: float = READ_TIMEOUT_S
    idle_after: float = IDLE_AFTER_S
    reads: int = 0  # refreshes made, all readers together
    _entries: dict[tuple[str, str, int], _Entry] = field(default_factory=dict)

    async def read(
        self, *, config: Mapping[str, str], topic: str, max_age: float
    ) -> tuple[offsets_topic.Offsets | None, BackendError | None]:
        """The topic's offsets by connector, read again if older than ``max_age`` seconds.

        On a failed read: None, and the error, fit for a condition.
        """
        from syncjob_operator.probes import offsets_topic

        now = self.clock()
        await self._close_idle(now)
        key = (config.get("bootstrap.servers", ""), topic, hash(tuple(sorted(config.items()))))
        entry = self._entries.get(key)
        if entry is None:
            entry = _Entry(offsets_topic.OffsetsTopicReader(config, topic))
            self._entries[key] = entry
        entry.used_at = now
        async with entry.lock:
            if entry.read_at is not None and self.clock() - entry.read_at < max_age:
                return (entry.offsets if entry.error is None else None), entry.error
            self.reads += 1
            try:
                entry.offsets = await entry.reader.refresh(timeout_s=self.read_timeout)
                entry.error = None
            except probe_errors.ProbeError as exc:
                entry.error = BackendError(
                    "kafka",
                    exc.reason,
                    f"reading Kafka Connect's offsets topic {topic!r}: {exc.message}",
                    transient=exc.reason not in offsets_topic.LASTING,
                )
            entry.read_at = self.clock()
            return (entry.offsets if entry.error is None else None), entry.error

    async def _close_idle(self, now: float) -> None:
        idle = [
            k
            for k, e in self._entries.items()
            if now - e.used_at > self.idle_after and not e.lock.locked()
        ]
        for k in idle:
            await asyncio.to_thread(self._entries.pop(k).reader.close)

    async def close(self) -> None:
        entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            await asyncio.to_thread(entry.reader.close)
