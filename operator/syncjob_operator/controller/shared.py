"""What every SyncJob's loop shares: the Kubernetes client, the settings, Connect clients, Secrets.

One instance per operator process, made at start-up.  Connect clients are
kept per URL, timeout and credentials so that their connection pools are
reused across passes and jobs; Secrets are cached for a short while so that
a job polling fast during a transition does not read its Secret every 25 ms.
The readers of Kafka Connect's offsets topics are shared the same way
(:mod:`.offsets`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

from syncjob_operator.api import jobspec
from syncjob_operator.backends.connect import ConnectAuth, ConnectClient
from syncjob_operator.backends.kube import Kube, KubeError
from syncjob_operator.controller.offsets import OffsetsTopics
from syncjob_operator.decide.observed import BackendError
from syncjob_operator.settings import Settings

SECRET_TTL = 60.0


@dataclass
class Shared:
    """What all jobs share: the Kubernetes client, settings, Connect clients."""

    kube: Kube
    settings: Settings
    _clients: dict[tuple[str, timedelta, str, str], ConnectClient] = field(default_factory=dict)
    _secrets: dict[tuple[str, str], tuple[float, dict[str, str] | None]] = field(
        default_factory=dict
    )
    # The readers of Kafka Connect's offsets topics, for the stage.
    offsets_topics: OffsetsTopics = field(default_factory=OffsetsTopics)

    async def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        key = (namespace, name)
        cached = self._secrets.get(key)
        if cached is not None and time.monotonic() - cached[0] < SECRET_TTL:
            return cached[1]
        data = await self.kube.read_secret(namespace, name)
        self._secrets[key] = (time.monotonic(), data)
        return data

    async def connect_client(
        self, namespace: str, spec: jobspec.ConnectSpec
    ) -> ConnectClient | BackendError:
        auth: ConnectAuth | None = None
        fingerprint = ""
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
            fingerprint = str(hash(tuple(sorted(data.items()))))
        key = (spec.url, spec.request_timeout, namespace, fingerprint)
        client = self._clients.get(key)
        if client is None:
            timeout = spec.request_timeout.total_seconds()
            client = ConnectClient(spec.url, auth=auth, timeout=timeout)
            self._clients[key] = client
        return client

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        await self.offsets_topics.close()
        await self.kube.close()
