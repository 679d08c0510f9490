"""One look at a Kafka Connect cluster's connectors, shared by every job on it.

Why this exists: each converged job used to GET every connector's status on
each resync, so the requests grew with the number of jobs (4,000 a resync at
1,000 jobs of two connectors).  ``GET /connectors?expand=status&expand=info``
answers all of them at once, so a cluster's jobs share one listing:

- **single flight**: jobs that ask while a listing is on its way wait for
  that one instead of sending their own;
- **reused while young**: a listing started less than ``max_age`` ago (the
  resync interval) serves every job that asks;
- **never older than what the asker saw itself**: a job that observed its
  connectors directly (during a pause or resume) at time *t* takes only a
  listing started after *t*, so a listing from before its pause cannot
  show it a connector still RUNNING and make it act on a drift that is not.

A failed listing is shared with the jobs waiting for it but not kept: the
next asker tries again (each job backs off by its own retry pacing).
Bookkeeping only, the fetch is the caller's coroutine, the clock is passed in.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from syncjob_operator.decide.observed import BackendError, ConnectorState

T = TypeVar("T")
K = TypeVar("K")

Listed = Mapping[str, ConnectorState] | BackendError


@dataclass
class _Entry(Generic[T]):
    # When the kept value's request started (monotonic): it shows the state
    # as of then or later.
    started: float = float("-inf")
    value: T | None = None
    # The request on its way, and when it started.
    flight: asyncio.Future[T] | None = None
    flight_started: float = float("-inf")


@dataclass
class SingleFlight(Generic[K, T]):
    """Values fetched once per key and reused while young; concurrent askers share a fetch.

    ``keep`` says whether a fetched value may be reused (a failure may not).
    Keys are held weakly (a Connect client): a client closed and dropped
    takes its listing with it.
    """

    keep: Callable[[T], bool] = lambda _: True
    clock: Callable[[], float] = time.monotonic
    fetches: int = 0  # how many fetches were started (for the tests and metrics)
    _entries: weakref.WeakKeyDictionary[K, _Entry[T]] = field(
        default_factory=weakref.WeakKeyDictionary
    )

    async def get(
        self,
        key: K,
        fetch: Callable[[], Awaitable[T]],
        *,
        max_age: float,
        not_before: float | None = None,
    ) -> T:
        """The value for ``key``: started within ``max_age`` and not before ``not_before``."""
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        now = self.clock()
        oldest = now - max_age
        if not_before is not None:
            oldest = max(oldest, not_before)
        if entry.value is not None and entry.started >= oldest:
            return entry.value
        flight = entry.flight
        if flight is None or flight.done() or entry.flight_started < oldest:
            flight = self._start(entry, fetch, now)
        # shield: one asker cancelled (its job deleted) does not cancel the others' request.
        return await asyncio.shield(flight)

    def _start(
        self, entry: _Entry[T], fetch: Callable[[], Awaitable[T]], now: float
    ) -> asyncio.Future[T]:
        self.fetches += 1

        async def run() -> T:
            value = await fetch()
            if self.keep(value) and now >= entry.started:
                entry.started, entry.value = now, value
            return value

        flight = asyncio.ensure_future(run())
        entry.flight, entry.flight_started = flight, now
        return flight


def connect_listings(clock: Callable[[], float] = time.monotonic) -> SingleFlight[object, Listed]:
    """The listings of the Connect clusters, one per client (URL and credentials)."""
    return SingleFlight(keep=lambda v: not isinstance(v, BackendError), clock=clock)
