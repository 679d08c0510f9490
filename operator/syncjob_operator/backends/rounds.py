"""Requests of one kind to one server, let go in rounds when they crowd.

Why this exists: a Kafka Connect worker serves requests that reach it
together for about half of what it spends on the same requests one by one.
Concurrent ``GET /offsets`` share one read of the offsets topic, concurrent
``PUT /pause`` one read of the config topic, where each lone request pays
for its own (and wakes the herder and the broker for it).  In a storm the
operator's requests come as the users' spec patches reach it, one every few
milliseconds: measured on a worker of 200 connectors
(``tests/bench/test_connect_cost_bench.py``), requests one every 7.5 ms
cost the worker 7.1-7.5 ms of CPU each, the same requests let go in rounds
0.1 s apart 3.4-4.3 ms, and the broker a quarter of its share.

So a request goes at once when none went in the last ``spacing`` seconds
(a lone job waits for nothing), or when it comes within ``open_for`` of
the last round's start (the requests one job sends together, for each of
its connectors, go together); any other waits for the next round, which
starts ``spacing`` after the last one.  A round is only a start time: it
does not wait for the requests before it to end, so a request that hangs
holds up nobody.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Rounds:
    """When requests of one kind to one server may go (see the module's doc)."""

    spacing: float
    open_for: float = 0.005
    clock: Callable[[], float] = time.monotonic
    # How many rounds started (for the tests).
    started: int = 0
    _last: float = float("-inf")
    _next: asyncio.Future[None] | None = field(default=None, repr=False)

    async def turn(self) -> None:
        """Return when a request may go: at once, or when the next round starts."""
        now = self.clock()
        upcoming = self._next
        if upcoming is not None and (
            upcoming.done() or upcoming.get_loop() is not asyncio.get_running_loop()
        ):
            upcoming = self._next = None  # called off, or left by an event loop that has ended
        if upcoming is None:
            if now - self._last <= self.open_for:
                return
            if now >= self._last + self.spacing:
                self._start(now)
                return
            upcoming = self._next = asyncio.ensure_future(self._after(self._last + self.spacing))
        # shield: one waiter cancelled (its job deleted) does not call off the round.
        await asyncio.shield(upcoming)

    async def _after(self, at: float) -> None:
        delay = at - self.clock()
        if delay > 0:
            await asyncio.sleep(delay)
        self._start(self.clock())
        self._next = None

    def _start(self, now: float) -> None:
        self._last = now
        self.started += 1
