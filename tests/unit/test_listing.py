"""The shared Connect listing's bookkeeping: single flight, reuse while young, never too old."""

from __future__ import annotations

import asyncio

import pytest

from syncjob_operator.controller.listing import Crowds, SingleFlight, connect_listings
from syncjob_operator.decide.observed import BackendError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Key:
    """A Connect client stands for the key: held weakly, by identity."""


class Fetch:
    """A fetch that counts itself and answers its number (or an error), after a gate."""

    def __init__(self, fail: bool = False) -> None:
        self.count = 0
        self.fail = fail
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self) -> int | BackendError:
        self.count += 1
        n = self.count
        await self.gate.wait()
        if self.fail:
            return BackendError("connect", "ConnectUnreachable", "down", transient=True)
        return n


async def settle() -> None:
    """Let every task that can run, run (a request's task starts a turn after its ask)."""
    for _ in range(10):
        await asyncio.sleep(0)


def listings(clock: Clock) -> SingleFlight[object, int | BackendError]:
    return SingleFlight(keep=lambda v: not isinstance(v, BackendError), clock=clock)


# Each row: asks as (time, not_before), and which fetch answers each.
@pytest.mark.parametrize(
    ("asks", "answers"),
    [
        # Reused while younger than max_age (30 s), fetched again after.
        ([(100, None), (110, None), (129.9, None), (130.1, None), (150, None)], [1, 1, 1, 2, 2]),
        # An asker that saw more recent state itself takes only a newer listing...
        ([(100, None), (105, 104.0), (106, None), (107, 104.0)], [1, 2, 2, 2]),
        # ...and one fetched at its own moment is new enough.
        ([(100, None), (105, 100.0)], [1, 1]),
    ],
)
def test_reuse(asks: list[tuple[float, float | None]], answers: list[int]) -> None:
    clock, fetch, key = Clock(), Fetch(), Key()
    cache = listings(clock)

    async def run() -> list[int | BackendError]:
        got = []
        for at, not_before in asks:
            clock.now = at
            got.append(await cache.get(key, fetch, max_age=30.0, not_before=not_before))
        return got

    assert asyncio.run(run()) == answers
    assert cache.fetches == fetch.count == max(answers)


def test_kept_at_is_when_the_kept_listing_was_asked_for() -> None:
    clock, key = Clock(), Key()
    cache = listings(clock)

    async def run() -> list[float | None]:
        seen = [cache.kept_at(key)]
        await cache.get(key, Fetch(), max_age=30.0)
        clock.now = 110.0
        seen.append(cache.kept_at(key))
        await cache.get(key, Fetch(fail=True), max_age=5.0)  # a failure is not kept
        seen.append(cache.kept_at(key))
        return seen

    assert asyncio.run(run()) == [None, 100.0, 100.0]


def test_concurrent_askers_share_one_request() -> None:
    clock, fetch, key = Clock(), Fetch(), Key()
    cache = listings(clock)

    async def run() -> list[int | BackendError]:
        fetch.gate.clear()
        asks = [asyncio.ensure_future(cache.get(key, fetch, max_age=30.0)) for _ in range(200)]
        await asyncio.sleep(0)
        fetch.gate.set()
        return await asyncio.gather(*asks)

    assert asyncio.run(run()) == [1] * 200
    assert fetch.count == 1


def test_an_asker_that_saw_newer_state_does_not_join_an_older_flight() -> None:
    clock, fetch, key = Clock(), Fetch(), Key()
    cache = listings(clock)

    async def run() -> tuple[int | BackendError, int | BackendError]:
        fetch.gate.clear()
        early = asyncio.ensure_future(cache.get(key, fetch, max_age=30.0))
        await asyncio.sleep(0)
        clock.now = 101.0
        late = asyncio.ensure_future(cache.get(key, fetch, max_age=30.0, not_before=100.5))
        await asyncio.sleep(0)
        fetch.gate.set()
        return await early, await late

    assert asyncio.run(run()) == (1, 2)


def test_a_failure_is_shared_by_its_waiters_but_not_kept() -> None:
    clock, fetch, key = Clock(), Fetch(fail=True), Key()
    cache = listings(clock)

    async def run() -> list[int | BackendError]:
        fetch.gate.clear()
        asks = [asyncio.ensure_future(cache.get(key, fetch, max_age=30.0)) for _ in range(5)]
        await asyncio.sleep(0)
        fetch.gate.set()
        got = list(await asyncio.gather(*asks))
        fetch.fail = False
        got.append(await cache.get(key, fetch, max_age=30.0))
        return got

    got = asyncio.run(run())
    assert all(isinstance(g, BackendError) for g in got[:5])
    assert got[5] == 2 and fetch.count == 2


def test_one_asker_cancelled_does_not_cancel_the_others_request() -> None:
    clock, fetch, key = Clock(), Fetch(), Key()
    cache = listings(clock)

    async def run() -> int | BackendError:
        fetch.gate.clear()
        first = asyncio.ensure_future(cache.get(key, fetch, max_age=30.0))
        second = asyncio.ensure_future(cache.get(key, fetch, max_age=30.0))
        await asyncio.sleep(0)
        first.cancel()
        await asyncio.sleep(0)
        fetch.gate.set()
        return await second

    assert asyncio.run(run()) == 1


def test_each_cluster_has_its_own_listing_and_a_dropped_client_takes_it_along() -> None:
    clock, fetch = Clock(), Fetch()
    cache = connect_listings(clock)
    one, two = Key(), Key()

    async def run(a: Key, b: Key) -> list[object]:
        return [
            await cache.get(a, fetch, max_age=30.0),
            await cache.get(b, fetch, max_age=30.0),
            await cache.get(a, fetch, max_age=30.0),
        ]

    assert asyncio.run(run(one, two)) == [1, 2, 1]
    del one
    assert len(cache._entries) == 1


def test_a_poll_in_a_storm_joins_the_listing_on_its_way_however_old() -> None:
    """A transition's poll (max_age one poll) waits for a listing already on its way
    that started after its own requests, rather than piling another on top."""
    clock, fetch, key = Clock(), Fetch(), Key()
    cache = listings(clock)

    async def run() -> list[int | BackendError]:
        fetch.gate.clear()
        first = asyncio.ensure_future(
            cache.get(key, fetch, max_age=0.025, not_before=99.0, join_after=99.0)
        )
        await asyncio.sleep(0)
        clock.now = 100.5  # the listing has been on its way for 0.5 s
        joined = asyncio.ensure_future(
            cache.get(key, fetch, max_age=0.025, not_before=99.5, join_after=99.5)
        )
        # One whose requests were answered after that listing started must not join it.
        later = asyncio.ensure_future(
            cache.get(key, fetch, max_age=0.025, not_before=100.2, join_after=100.2)
        )
        await asyncio.sleep(0)
        fetch.gate.set()
        return list(await asyncio.gather(first, joined, later))

    assert asyncio.run(run()) == [1, 1, 2]
    assert fetch.count == 2


def test_spaced_asks_queue_one_request_behind_the_one_on_its_way() -> None:
    """In a storm, every job needs a listing started after its own PUTs.

    With spacing, those that come while one is on its way all wait for one
    queued request, started once that one is answered: two listings for
    six askers, not six.  One that comes after the queued request has
    started, and needs a newer one, queues the next rather than joining it.
    """
    clock, fetch, key = Clock(), Fetch(), Key()
    cache = listings(clock)

    def ask(at: float) -> asyncio.Future[int | BackendError]:
        return asyncio.ensure_future(
            cache.get(key, fetch, max_age=0.1, not_before=at, join_after=at, spacing=0.01)
        )

    async def run() -> list[int | BackendError]:
        fetch.gate.clear()
        first = ask(99.0)
        await settle()
        clock.now = 100.5  # the first listing has been on its way for 0.5 s
        storm = [ask(100.05 + i / 10) for i in range(5)]  # each acted after it started
        await settle()
        assert fetch.count == 1  # queued, not started beside the one on its way
        fetch.gate.set()
        answers = list(await asyncio.gather(first, *storm))
        # The queued (second) request has been answered; one gated third,
        # asked for by a job that acted after the second started.
        fetch.gate.clear()
        clock.now = 101.0
        late = ask(100.9)
        await asyncio.sleep(0.05)  # past the spacing: the queued request starts
        assert fetch.count == 3
        fetch.gate.set()
        return [*answers, await late]

    assert asyncio.run(run()) == [1, 2, 2, 2, 2, 2, 3]
    assert fetch.count == 3


def test_without_spacing_a_newer_need_starts_a_request_at_once() -> None:
    """A converged job's resync (no spacing) never waits behind a queue."""
    clock, fetch, key = Clock(), Fetch(), Key()
    cache = listings(clock)

    async def run() -> list[int | BackendError]:
        fetch.gate.clear()
        first = asyncio.ensure_future(cache.get(key, fetch, max_age=30, not_before=99.0))
        await settle()
        clock.now = 100.5
        newer = asyncio.ensure_future(cache.get(key, fetch, max_age=30, not_before=100.2))
        await settle()
        assert fetch.count == 2
        fetch.gate.set()
        return list(await asyncio.gather(first, newer))

    assert asyncio.run(run()) == [1, 2]


# Each row: (time, who) of each poll, and the count each poll is told.
@pytest.mark.parametrize(
    ("polls", "counts"),
    [
        # Jobs add up; the same job polling again is counted once.
        ([(0.0, "a"), (0.1, "b"), (0.2, "a"), (0.3, "c")], [1, 2, 2, 3]),
        # A job not heard from for over the window (2 s) is forgotten.
        ([(0.0, "a"), (0.1, "b"), (1.5, "b"), (3.0, "b")], [1, 2, 2, 1]),
        # ...but only at a sweep (at most every half window): at 2.2 "a" is
        # 2.2 s old, and the last sweep was at 1.5; the next, at 2.6, forgets it.
        ([(0.0, "a"), (1.5, "b"), (2.2, "b"), (2.6, "b")], [1, 2, 2, 1]),
    ],
)
def test_crowds_count_the_jobs_polling_in_a_transition(
    polls: list[tuple[float, str]], counts: list[int]
) -> None:
    clock = Clock()
    crowds = Crowds(window=2.0, clock=clock)
    key = Key()
    got = []
    for at, who in polls:
        clock.now = 100.0 + at
        got.append(crowds.count(key, who))
    assert got == counts


def test_each_cluster_has_its_own_crowd() -> None:
    clock = Clock()
    crowds = Crowds(clock=clock)
    one, two = Key(), Key()
    assert [crowds.count(one, "a"), crowds.count(two, "b"), crowds.count(one, "c")] == [1, 1, 2]


def test_a_crowds_size_counts_the_others_and_adds_no_one() -> None:
    clock = Clock()
    crowds = Crowds(window=2.0, clock=clock)
    key = Key()
    assert crowds.size(key) == 0
    crowds.count(key, "a")
    crowds.count(key, "b")
    assert [crowds.size(key), crowds.size(key)] == [2, 2]
    clock.now += 3.0  # neither polled within the window
    assert crowds.size(key) == 0
