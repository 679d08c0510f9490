"""Clients kept across passes and jobs: one per endpoint and credentials, closed when not needed.

Why this exists: a Connect HTTP client keeps its TLS connections alive and a
Kafka AdminClient its SASL-authenticated ones, so both are worth keeping
between passes and sharing between jobs that talk to the same server with the
same credentials. Kept for ever, though, they would pile up: a rotated Secret
leaves a client with the old credentials behind (still connected, and, once
the old password is revoked, failing in the background), and a deleted job
its client.

So a client is kept under a key (the endpoint and a :func:`fingerprint` of
the credentials' data) and is held by owners: an owner is the place that
names the credentials (namespace, Secret, endpoint), and points at the key it
last resolved to. When the Secret's data change, so does its key: the old
client loses that owner, and one left without owners is retired. A client no
job asked for in ``idle_after`` seconds is retired too. A retired client is
closed ``grace`` seconds later, since a request started on it just before may
still be running.

Pure bookkeeping with the clock passed in; closing a client is the caller's
coroutine. :meth:`Pool.sweep` runs on every :meth:`Pool.get`, and the job
loop calls it on every pass, so a client is closed within a pass of its time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

C = TypeVar("C")


def fingerprint(data: Mapping[str, str]) -> str:
    """A stable digest of credentials' data, to tell one version of a Secret from another.

    Kept in memory only, never logged nor written: a digest of a weak
    password could be guessed at.
    """
    canonical = json.dumps(sorted(data.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _endpoint(key: Hashable) -> str:
    # Keys are (endpoint, ...) tuples; only the endpoint is fit for a log line.
    return str(key[0]) if isinstance(key, tuple) and key else "?"


@dataclass
class _Kept(Generic[C]):
    client: C
    used_at: float
    owners: set[Hashable] = field(default_factory=set)


@dataclass
class Pool(Generic[C]):
    """Clients by key, with their owners; ``close_client`` closes one."""

    close_client: Callable[[C], Awaitable[None]]
    what: str = "client"
    idle_after: float = 300.0
    grace: float = 0.0
    clock: Callable[[], float] = time.monotonic
    opened: int = 0
    closed: int = 0
    _kept: dict[Hashable, _Kept[C]] = field(default_factory=dict)
    _owned: dict[Hashable, Hashable] = field(default_factory=dict)
    _retired: list[tuple[float, C]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self._kept)

    def kept(self) -> list[C]:
        """The clients kept now (retired ones not included)."""
        return [k.client for k in self._kept.values()]

    async def get(self, key: Hashable, make: Callable[[], C], *, owner: Hashable = None) -> C:
        """The client kept under ``key``, made now if there is none.

        ``owner`` (None: no Secret names these credentials) moves to ``key``;
        the client it held before is retired when no owner is left to it.
        ``make`` may raise; nothing is kept then.
        """
        now = self.clock()
        kept = self._kept.get(key)
        if kept is None:
            kept = _Kept(make(), now)
            self._kept[key] = kept
            self.opened += 1
            logger.debug("%s for %s opened", self.what, _endpoint(key))
        kept.used_at = now
        if owner is not None:
            before = self._owned.get(owner)
            if before is not None and before != key:
                old = self._kept.get(before)
                if old is not None:
                    old.owners.discard(owner)
                    if not old.owners:
                        self._retire(before, now, "its credentials changed")
            self._owned[owner] = key
            kept.owners.add(owner)
        await self.sweep()
        return kept.client

    def discard(self, key: Hashable, why: str) -> None:
        """Retire the client under ``key`` now (it failed in a way a new one may not)."""
        if key in self._kept:
            self._retire(key, self.clock(), why)

    def _retire(self, key: Hashable, now: float, why: str) -> None:
        kept = self._kept.pop(key)
        for owner in kept.owners:
            if self._owned.get(owner) == key:
                del self._owned[owner]
        self._retired.append((now, kept.client))
        logger.info("%s for %s retired: %s", self.what, _endpoint(key), why)

    async def sweep(self) -> int:
        """Retire idle clients; close those retired ``grace`` seconds ago. How many closed."""
        now = self.clock()
        for key, kept in list(self._kept.items()):
            if now - kept.used_at >= self.idle_after:
                self._retire(key, now, f"no job used it for {self.idle_after:g}s")
        due = [c for at, c in self._retired if now - at >= self.grace]
        self._retired = [(at, c) for at, c in self._retired if now - at < self.grace]
        for client in due:
            await self._close(client)
        return len(due)

    async def close(self) -> None:
        """Close every client, kept or retired (the operator is stopping)."""
        clients = [k.client for k in self._kept.values()] + [c for _, c in self._retired]
        self._kept.clear()
        self._owned.clear()
        self._retired.clear()
        for client in clients:
            await self._close(client)

    async def _close(self, client: C) -> None:
        try:
            await self.close_client(client)
        except Exception:
            logger.exception("closing a %s failed", self.what)
        self.closed += 1
