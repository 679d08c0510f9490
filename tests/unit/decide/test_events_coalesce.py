"""Merging the Events of held statuses into the write that carries them."""

from __future__ import annotations

import pytest

from syncjob_operator.decide.events import coalesce, phase_event
from syncjob_operator.decide.plan import Event, PhaseChange


def change(before: str | None, after: str) -> Event:
    return phase_event(PhaseChange(before, after, "detail"))  # type: ignore[arg-type]


STAGE = Event("Normal", "StageCDC", "The job is in the CDC stage")
ALARM = Event("Warning", "RetentionAtRisk", "soon")


@pytest.mark.parametrize(
    ("held", "new", "expected"),
    [
        # Nothing held: the new Events as they are.
        ([], [change("Running", "Pausing")], ["Pausing: Phase Running -> Pausing"]),
        ([], [STAGE], ["StageCDC"]),
        # A pause that landed: one change, from the first phase to the last.
        (
            [change("Running", "Pausing")],
            [change("Pausing", "Paused")],
            ["Paused: Phase Running -> Paused"],
        ),
        # Undone before it was reported: no phase Event at all.
        ([change("Running", "Pausing")], [change("Pausing", "Running")], []),
        # Other Events are kept, in order; the merged change where the first was.
        (
            [STAGE, change("Running", "Pausing")],
            [change("Pausing", "Paused"), ALARM],
            ["StageCDC", "Paused: Phase Running -> Paused", "RetentionAtRisk"],
        ),
        # Held Events with no new one (the held status is written as it is).
        ([change(None, "Resuming")], [], ["Resuming: Phase none -> Resuming"]),
    ],
)
def test_coalesce(held: list[Event], new: list[Event], expected: list[str]) -> None:
    got = [
        f"{e.reason}: {e.message.split('.')[0]}" if e.phase_change else e.reason
        for e in coalesce(held, new)
    ]
    assert got == expected
