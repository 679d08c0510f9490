"""What every SyncJob's loop shares: the Kubernetes client, the settings, kept clients, Secrets.

One instance per operator process, made at start-up.  Connect clients are
kept per URL, timeout and credentials so that their connection pools are
reused across passes and jobs, and Kafka admin clients per cluster and
credentials so that a probe does not pay a TLS and SASL handshake each time;
both in a :class:`~.clients.Pool`, which closes a client when its Secret
changes or no job has used it for a while.  Secrets are cached for a short
while so that a job polling fast during a transition does not read its
Secret on every poll.
The readers of Kafka Connect's offsets topics are shared too (:mod:`.offsets`),
and so is each Connect cluster's listing of its connectors (:mod:`.listing`):
one request a resync interval serves every converged job on it; and the
watch-fed cache of workloads and KafkaConnectors
(:mod:`syncjob_operator.backends.watch`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from syncjob_operator.api import jobspec
from syncjob_operator.backends.connect import ConnectAuth, ConnectClient
from syncjob_operator.backends.kube import Kube, KubeError
from syncjob_operator.backends.watch import WatchCache
from syncjob_operator.controller.clients import Pool, fingerprint
from syncjob_operator.controller.listing import Crowds, Listed, SingleFlight, connect_listings
from syncjob_operator.controller.offsets import OffsetsTopics
from syncjob_operator.decide.observed import BackendError
from syncjob_operator.settings import Settings

if TYPE_CHECKING:
    from syncjob_operator.probes.kafka_clients import SharedAdmin

SECRET_TTL = 60.0
# A client no job asked for in this long is closed. Well above the resync and
# retention intervals (30 s), so a converged or paused job keeps its clients.
CLIENT_IDLE_AFTER = 300.0
# A Connect client replaced (rotated Secret) is closed this long after, not at
# once: another job's pass may be in the middle of a request with it.  A Kafka
# admin client needs none: a probe running with it holds its own reference.
CONNECT_RETIRE_GRACE = 60.0
# A Connect client whose requests found no free connection this many times in
# a row is replaced: seen with 200 jobs on one worker, a pool that never freed
# a connection again while the worker answered everyone else.
POOL_STALLS_TO_REPLACE = 3


async def _close_connect(client: ConnectClient) -> None:
    await client.aclose()


async def _close_admin(admin: SharedAdmin) -> None:
    # librdkafka joins its threads on destroy: not on the event loop.
    await asyncio.to_thread(admin.close)


@dataclass
class Shared:
    """What all jobs share: the Kubernetes client, settings, kept clients, Secrets."""

    kube: Kube
    settings: Settings
    clock: Callable[[], float] = time.monotonic
    secret_ttl: float = SECRET_TTL
    connect_clients: Pool[ConnectClient] = field(init=False)
    kafka_admins: Pool[SharedAdmin] = field(init=False)
    _secrets: dict[tuple[str, str], tuple[float, dict[str, str] | None]] = field(
        default_factory=dict
    )
    # The readers of Kafka Connect's offsets topics, for the stage.
    offsets_topics: OffsetsTopics = field(default_factory=OffsetsTopics)
    # Each Connect client's listing of its cluster's connectors.
    connect_listings: SingleFlight[object, Listed] = field(init=False)
    connect_crowds: Crowds = field(init=False)
    # Workloads and KafkaConnectors, from one list+watch per kind and namespace.
    watches: WatchCache = field(init=False)
    # Bounds how many loops take their first pass at once (None: no bound).
    # At start-up every job takes its first pass: a thousand observations,
    # status writes and decoded answers in flight together were the
    # process's peak of memory, and the heap keeps that size (fragmented)
    # long after.  The API server serves them one after another anyway.
    first_passes: asyncio.Semaphore | None = field(init=False)

    def __post_init__(self) -> None:
        self.connect_listings = connect_listings(self.clock)
        self.connect_crowds = Crowds(clock=self.clock)
        self.watches = WatchCache(self.kube, clock=self.clock)
        concurrency = self.settings.first_pass_concurrency
        self.first_passes = asyncio.Semaphore(concurrency) if concurrency > 0 else None
        self.connect_clients = Pool(
            _close_connect,
            what="Kafka Connect client",
            idle_after=CLIENT_IDLE_AFTER,
            grace=CONNECT_RETIRE_GRACE,
            clock=self.clock,
        )
        self.kafka_admins = Pool(
            _close_admin, what="Kafka admin client", idle_after=CLIENT_IDLE_AFTER, clock=self.clock
        )

    async def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        key = (namespace, name)
        cached = self._secrets.get(key)
        if cached is not None and self.clock() - cached[0] < self.secret_ttl:
            return cached[1]
        data = await self.kube.read_secret(namespace, name)
        self._secrets[key] = (self.clock(), data)
        return data

    async def connect_client(
        self, namespace: str, spec: jobspec.ConnectSpec
    ) -> ConnectClient | BackendError:
        auth: ConnectAuth | None = None
        digest = ""
        owner: Hashable = None
        if spec.auth_secret_ref is not None:
            try:
                data = await self.secret(namespace, spec.auth_secret_ref.name)
            except KubeError as exc:
                return BackendError(
                    "secrets",
                    "SecretUnreadable",
                    f"reading Secret {spec.auth_secret_ref.name}: {exc.message}",
                    transient=True,
                )
            if data is None:
                return BackendError(
                    "secrets",
                    "SecretNotFound",
                    f"Secret {spec.auth_secret_ref.name} (spec.connect.authSecretRef) does not "
                    f"exist in namespace {namespace}",
                    transient=False,
                )
            try:
                auth = ConnectAuth.from_secret(data)
            except ValueError as exc:
                return BackendError("secrets", "SecretInvalid", str(exc), transient=False)
            digest = fingerprint(data)
            owner = (spec.url, spec.request_timeout, namespace, spec.auth_secret_ref.name)
        timeout = spec.request_timeout.total_seconds()
        key = (spec.url, spec.request_timeout, namespace, digest)

        def make() -> ConnectClient:
            return ConnectClient(spec.url, auth=auth, timeout=timeout)

        client = await self.connect_clients.get(key, make, owner=owner)
        if client.pool_stalls >= POOL_STALLS_TO_REPLACE:
            self.connect_clients.discard(key, "no connection of its pool came free")
            client = await self.connect_clients.get(key, make, owner=owner)
        return client

    # --- Kafka admin clients, for the retention probes ----------------------

    @staticmethod
    def _kafka_key(
        namespace: str, kafka: jobspec.KafkaSpec, config: Mapping[str, str]
    ) -> tuple[Hashable, Hashable]:
        key = (kafka.bootstrap_servers, fingerprint(config))
        ref = kafka.config_secret_ref
        owner = (kafka.bootstrap_servers, namespace, ref.name) if ref is not None else None
        return key, owner

    async def kafka_admin(
        self, namespace: str, kafka: jobspec.KafkaSpec, config: Mapping[str, str]
    ) -> SharedAdmin:
        """The admin client for this cluster and these credentials (``config``: librdkafka's).

        One per cluster and credentials whatever the namespace: the same
        credentials reach the same things. Raises ProbeError when librdkafka
        refuses the config.
        """
        key, owner = self._kafka_key(namespace, kafka, config)
        from syncjob_operator.probes import kafka_topics

        return await self.kafka_admins.get(
            key, lambda: kafka_topics.open_admin(config), owner=owner
        )

    def kafka_failed(
        self, namespace: str, kafka: jobspec.KafkaSpec, config: Mapping[str, str]
    ) -> None:
        """A probe could not get through: the next starts on a new client.

        A client that cannot connect keeps retrying in the background (a TLS
        handshake every few seconds), so it is not kept.
        """
        key, _ = self._kafka_key(namespace, kafka, config)
        self.kafka_admins.discard(key, "a probe through it failed")

    async def sweep(self) -> None:
        """Close what is due: clients idle or replaced (see :class:`~.clients.Pool`)."""
        await self.connect_clients.sweep()
        await self.kafka_admins.sweep()
        await self.watches.sweep()

    async def close(self) -> None:
        await self.connect_clients.close()
        await self.kafka_admins.close()
        await self.offsets_topics.close()
        await self.watches.close()
        await self.kube.close()
