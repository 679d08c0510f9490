"""One look at a Kafka Connect cluster's connectors, shared by every job on it.

Why this exists: each converged job used to GET every connector's status on
each resync, so the requests grew with the number of jobs (4,000 a resync at
1,000 jobs of two connectors).  ``GET /connectors?expand=status``
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

A job in a pause or resume reads its own connectors' status (one GET each,
every poll: the quickest answer for one job).  In a storm that is hundreds
of jobs polling every few tens of ms, which swamps the worker: 200 connectors paused
at once took 3.2x the time of a script polling one listing (the scale
bench).  So when several jobs on one cluster are in transition at once
(:class:`Crowds`), they poll the shared listing instead, one started after
their own requests went out and at most one poll interval old.
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
    # The one request queued behind it (spaced asks, see SingleFlight.get).
    queued: asyncio.Future[T] | None = None


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
        join_after: float | None = None,
        spacing: float = 0.0,
    ) -> T:
        """The value for ``key``: started within ``max_age`` and not before ``not_before``.

        ``join_after``: a request on its way that started at or after this is
        waited for, however old (a poll's own interval is its age limit;
        starting another while one is on its way would only pile them up).

        ``spacing``: a new request starts only once the one on its way is
        answered and ``spacing`` seconds after it started; every asker that
        needs a newer value meanwhile joins the one queued request.  A storm's
        jobs each need a listing started after their own PUTs: without it
        each new asker started one beside the listing on its way (56
        listings of 200 connectors in a 4 s pause storm, the worker's CPU
        spent on them rather than on the pauses).
        """
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        now = self.clock()
        oldest = now - max_age
        if not_before is not None:
            oldest = max(oldest, not_before)
        if entry.value is not None and entry.started >= oldest:
            return entry.value
        if entry.queued is not None and not entry.queued.done():
            # It starts later than now, so after anything this asker saw.
            return await asyncio.shield(entry.queued)
        flight = entry.flight
        joins_from = oldest if join_after is None else join_after
        on_its_way = flight is not None and not flight.done()
        if flight is not None and on_its_way and entry.flight_started >= joins_from:
            return await asyncio.shield(flight)
        if spacing > 0 and (on_its_way or now < entry.flight_started + spacing):
            entry.queued = asyncio.ensure_future(self._trail(entry, fetch, spacing))
            return await asyncio.shield(entry.queued)
        # shield: one asker cancelled (its job deleted) does not cancel the others' request.
        return await asyncio.shield(self._start(entry, fetch, now))

    async def _trail(
        self, entry: _Entry[T], fetch: Callable[[], Awaitable[T]], spacing: float
    ) -> T:
        """The queued request: after the one on its way, and ``spacing`` after its start."""
        prior = entry.flight
        if prior is not None and not prior.done():
            # Its outcome is its own askers'; this one only waits for it to end.
            await asyncio.wait((prior,))
        delay = entry.flight_started + spacing - self.clock()
        if delay > 0:
            await asyncio.sleep(delay)
        flight = self._start(entry, fetch, self.clock())
        # From here an asker finds this request on its way (and, if it needs
        # a newer one, queues the next): it started before that asker's ask.
        entry.queued = None
        return await flight

    def kept_at(self, key: K) -> float | None:
        """When the request of the value kept for ``key`` started; None when none is kept."""
        entry = self._entries.get(key)
        return entry.started if entry is not None and entry.value is not None else None

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


@dataclass
class Crowds:
    """How many jobs are in a pause or resume on each Connect cluster just now.

    Each such job says so at each of its polls (:meth:`count`); one not heard
    from for ``window`` seconds is no longer counted.  The forgetting is
    done at most every half window, so that a poll costs O(1) in a storm.
    Keys are held weakly, like the listings'.
    """

    window: float = 2.0
    clock: Callable[[], float] = time.monotonic
    _seen: weakref.WeakKeyDictionary[object, dict[object, float]] = field(
        default_factory=weakref.WeakKeyDictionary
    )
    _swept: weakref.WeakKeyDictionary[object, float] = field(
        default_factory=weakref.WeakKeyDictionary
    )

    def count(self, key: object, who: object) -> int:
        """``who`` polls in a transition on ``key``'s cluster: how many do (``who`` included)."""
        now = self.clock()
        seen = self._seen.get(key)
        if seen is None:
            seen = self._seen[key] = {}
        seen[who] = now
        return self._swept_size(key, seen, now)

    def size(self, key: object) -> int:
        """How many jobs are in transition on ``key``'s cluster, counting none."""
        seen = self._seen.get(key)
        return 0 if seen is None else self._swept_size(key, seen, self.clock())

    def _swept_size(self, key: object, seen: dict[object, float], now: float) -> int:
        if now - self._swept.get(key, float("-inf")) >= self.window / 2:
            self._swept[key] = now
            for gone in [w for w, at in seen.items() if now - at > self.window]:
                del seen[gone]
        return len(seen)


def connect_listings(clock: Callable[[], float] = time.monotonic) -> SingleFlight[object, Listed]:
    """The listings of the Connect clusters, one per client (URL and credentials)."""
    return SingleFlight(keep=lambda v: not isinstance(v, BackendError), clock=clock)
