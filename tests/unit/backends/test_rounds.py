"""Rounds: a lone request goes at once, a crowd's go together, spaced, and nobody is stranded."""

from __future__ import annotations

import asyncio

import pytest

from syncjob_operator.backends.rounds import Rounds

# Long enough that a request that waited for a round could not pass a
# bound of BOUND; the bound says "did not wait for a round", not how fast.
SPACING = 30.0
BOUND = 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_lone_request_goes_at_once_and_so_do_the_ones_sent_with_it() -> None:
    async def main() -> Rounds:
        rounds = Rounds(SPACING, clock=Clock())
        # One job's requests for each of its connectors, sent together.
        await asyncio.wait_for(asyncio.gather(*(rounds.turn() for _ in range(3))), BOUND)
        return rounds

    assert asyncio.run(main()).started == 1


@pytest.mark.parametrize(
    ("later", "waits"),
    [
        (0.004, False),  # within open_for of the round's start: goes with it
        (0.05, True),  # within the spacing: the next round
        (SPACING, False),  # the spacing passed: a round of its own, at once
    ],
)
def test_a_later_request_waits_only_within_the_spacing(later: float, waits: bool) -> None:
    async def main() -> tuple[bool, int]:
        clock = Clock()
        rounds = Rounds(SPACING, clock=clock)
        await rounds.turn()
        clock.now += later
        late = asyncio.ensure_future(rounds.turn())
        await settle()
        done = late.done()
        late.cancel()
        return done, rounds.started

    done, started = asyncio.run(main())
    assert done is not waits
    assert started == (2 if later >= SPACING else 1)


def test_the_waiting_requests_go_together_in_one_round_spacing_after_the_last() -> None:
    async def main() -> tuple[int, list[float]]:
        clock = Clock()
        rounds = Rounds(0.05, clock=clock)
        await rounds.turn()
        let_go: list[float] = []

        async def request() -> None:
            await rounds.turn()
            let_go.append(clock.now)

        clock.now += 0.01
        first = asyncio.ensure_future(request())
        clock.now += 0.01
        second = asyncio.ensure_future(request())
        await settle()
        assert not let_go  # both wait for the next round
        clock.now += 0.05  # the spacing has passed when the round's sleep ends
        await asyncio.wait_for(asyncio.gather(first, second), BOUND)
        return rounds.started, let_go

    started, let_go = asyncio.run(main())
    assert started == 2
    assert let_go == [let_go[0]] * 2  # one round, both at its start


def test_a_waiter_called_off_does_not_call_off_the_round() -> None:
    async def main() -> bool:
        clock = Clock()
        rounds = Rounds(0.05, clock=clock)
        await rounds.turn()
        clock.now += 0.01
        gone = asyncio.ensure_future(rounds.turn())
        kept = asyncio.ensure_future(rounds.turn())
        await settle()
        gone.cancel()
        await asyncio.wait_for(kept, BOUND)
        return gone.cancelled()

    assert asyncio.run(main())


def test_a_round_left_by_an_ended_event_loop_strands_nobody() -> None:
    clock = Clock()
    rounds = Rounds(SPACING, clock=clock)

    async def leave_a_round_waiting() -> None:
        await rounds.turn()
        clock.now += 1
        waiting = asyncio.ensure_future(rounds.turn())
        await settle()
        assert not waiting.done()

    asyncio.run(leave_a_round_waiting())  # the loop ends; its tasks are cancelled
    clock.now += SPACING

    async def next_loop() -> None:
        await asyncio.wait_for(rounds.turn(), BOUND)

    asyncio.run(next_loop())
    assert rounds.started == 2
