"""One pass's look at a job's backends: Kafka Connect, the workloads, Strimzi KafkaConnectors.

The reads run concurrently and every failure becomes a
:class:`~syncjob_operator.decide.observed.BackendError` in the observation,
never an exception.  What Kafka Connect answered is handed over as it is:
whether its errors count is the decision's business
(:mod:`syncjob_operator.decide.workers`).  Kept between passes: each
connector's type (so that it is not asked again), and the source connectors'
committed offsets as last read (for SQL Server's commit LSN), which are read
at most once a resync interval once the job is in the CDC stage.

Where Kafka Connect's REST API cannot serve the offsets
(:func:`syncjob_operator.decide.stage.way`), they are read from Connect's
offsets topic through the reader all jobs of that cluster share
(:mod:`.offsets`): at most every stage poll interval while this job waits
for CDC, every resync interval otherwise.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.backends import strimzi, workloads
from syncjob_operator.controller import offsets
from syncjob_operator.controller.shared import Shared
from syncjob_operator.decide import stage
from syncjob_operator.decide.observed import BackendError, ConnectorState, Observed
from syncjob_operator.probes import offsets_topic


@dataclass
class Observer:
    """What one job's observations keep between passes."""

    # Monotonic seconds: when the offsets were last read.
    clock: Callable[[], float] = time.monotonic
    connector_types: dict[str, str] = field(default_factory=dict)
    offsets_read_at: float | None = None
    # Each source connector's committed offsets as last read (for SQL Server's commit LSN).
    source_offsets: dict[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)

    def offsets_of(self, names: Iterable[str]) -> list[Mapping[str, Any]]:
        """The last read offsets of these connectors, in order."""
        return [o for n in names for o in self.source_offsets.get(n, ())]

    async def observe(
        self,
        *,
        shared: Shared,
        namespace: str,
        spec: jobspec.SyncJobSpec,
        previous: jobstatus.SyncJobStatus,
        carried: Sequence[BackendError] = (),
    ) -> Observed:
        """What the backends say now; ``carried`` are errors of the last pass's actions."""
        kube = shared.kube
        errors: list[BackendError] = list(carried)
        seen_workloads = await asyncio.gather(
            *(workloads.observe(kube, namespace, ref) for ref in spec.workloads)
        )
        seen_strimzi = await asyncio.gather(
            *(strimzi.observe(kube, namespace, ref.name) for ref in spec.kafka_connectors)
        )
        errors += [e for _, e in (*seen_workloads, *seen_strimzi) if e is not None]

        connectors: list[ConnectorState] = []
        connect_errors: list[BackendError] = []
        connect_serves_offsets = True
        if spec.connect is not None:
            client = await shared.connect_client(namespace, spec.connect)
            if isinstance(client, BackendError):
                # No client (its Secret): reported as it is, whatever the workers do.
                errors.append(client)
                connectors = [
                    ConnectorState(name=n, state="Unknown") for n in spec.connect.connectors
                ]
            else:
                with_offsets = previous.stage != "CDC" or (
                    self.offsets_read_at is None
                    or self.clock() - self.offsets_read_at > shared.settings.resync_interval
                )
                connectors, connect_errors = await client.observe(
                    list(spec.connect.connectors),
                    with_offsets=with_offsets,
                    types=self.connector_types,
                )
                if with_offsets and not connect_errors:
                    self.offsets_read_at = self.clock()
                connect_serves_offsets = client.serves_offsets
                for c in connectors:
                    if c.type:
                        self.connector_types[c.name] = c.type
                    if c.offsets is not None:  # read this pass; otherwise keep the last read
                        self.source_offsets[c.name] = c.offsets

        seen = (*connectors, *(c for c, _ in seen_strimzi))
        topic_offsets: offsets_topic.Offsets | None = None
        stage_errors: tuple[BackendError, ...] = ()
        known = dict(self.connector_types)
        how = stage.way(
            spec, seen, connect_serves_offsets=connect_serves_offsets, known_types=known
        )
        if spec.kafka is not None and how == "topic":
            topic_offsets, stage_errors = await self._read_topic(
                shared=shared, namespace=namespace, spec=spec, previous=previous
            )
            for name in stage.source_names(spec, seen, known):
                if topic_offsets is not None and name in topic_offsets:
                    self.source_offsets[name] = topic_offsets[name]
        return Observed(
            connectors=tuple(connectors),
            kafka_connectors=tuple(c for c, _ in seen_strimzi),
            workloads=tuple(w for w, _ in seen_workloads),
            errors=tuple(errors),
            connect_errors=tuple(connect_errors),
            topic_offsets=topic_offsets,
            connect_without_offsets=not connect_serves_offsets,
            connector_types=known,
            stage_errors=stage_errors,
        )

    async def _read_topic(
        self,
        *,
        shared: Shared,
        namespace: str,
        spec: jobspec.SyncJobSpec,
        previous: jobstatus.SyncJobStatus,
    ) -> tuple[offsets_topic.Offsets | None, tuple[BackendError, ...]]:
        """The offsets topic's offsets by connector, from the reader of the job's cluster."""
        assert spec.kafka is not None
        config = await offsets.client_config(
            secret=shared.secret, namespace=namespace, kafka=spec.kafka
        )
        if isinstance(config, BackendError):
            return None, (config,)
        settings = shared.settings
        waits = (
            spec.paused and previous.stage != "CDC" and previous.phase not in ("Pausing", "Paused")
        )
        found, error = await shared.offsets_topics.read(
            config=config,
            topic=spec.kafka.offsets_topic,
            max_age=settings.stage_poll_interval if waits else settings.resync_interval,
        )
        return found, (error,) if error is not None else ()
