"""Status bookkeeping: what was written, patches of the difference, a foreign status noticed."""

from __future__ import annotations

from typing import Any

import pytest

from syncjob_operator.api import jobstatus, v1alpha1
from syncjob_operator.controller.status import StatusBook, holds
from syncjob_operator.decide import events, plan

PAUSED = jobstatus.SyncJobStatus(phase="Paused", stage="CDC", paused_at="2026-11-24T10:00:00Z")
RUNNING = jobstatus.SyncJobStatus(phase="Running", stage="CDC")
RESUMING = jobstatus.SyncJobStatus(phase="Resuming", stage="CDC")


def body(status: jobstatus.SyncJobStatus | dict[str, Any] | None, version: str | None = "1") -> Any:
    raw = v1alpha1.dump(status) if isinstance(status, jobstatus.SyncJobStatus) else status
    metadata = {"resourceVersion": version} if version is not None else {}
    return {"metadata": metadata, "status": raw}


def wrote(book: StatusBook, status: jobstatus.SyncJobStatus) -> dict[str, Any]:
    new, patch = book.patch(status)
    book.wrote(new, patched=bool(patch))
    return patch


def test_the_first_pass_starts_from_the_object_and_later_ones_from_what_was_written() -> None:
    book = StatusBook("ns/job")
    assert book.previous(body(PAUSED)) == PAUSED
    assert book.written == v1alpha1.dump(PAUSED)
    wrote(book, RUNNING)
    # The object's status (a watch event behind our write) does not override ours.
    assert book.previous(body(PAUSED)) == RUNNING


@pytest.mark.parametrize(
    "raw",
    [None, {}, {"phase": "NoSuchPhase"}, {"conditions": "not a list"}],
)
def test_an_unreadable_or_missing_status_reads_as_empty(raw: dict[str, Any] | None) -> None:
    book = StatusBook("ns/job")
    assert book.previous(body(raw)) == jobstatus.SyncJobStatus()
    assert book.written == v1alpha1.dump(jobstatus.SyncJobStatus())


@pytest.mark.parametrize(
    ("first", "then", "patch", "writes"),
    [
        # Unchanged: no request.
        (PAUSED, PAUSED, {}, 0),
        # Only what changed, with null for what went away.
        (PAUSED, RUNNING, {"phase": "Running", "pausedAt": None}, 1),
        (RUNNING, PAUSED, {"phase": "Paused", "pausedAt": "2026-11-24T10:00:00Z"}, 1),
    ],
)
def test_only_the_difference_is_patched(
    first: jobstatus.SyncJobStatus,
    then: jobstatus.SyncJobStatus,
    patch: dict[str, Any],
    writes: int,
) -> None:
    book = StatusBook("ns/job")
    book.previous(body(first))
    assert wrote(book, then) == patch
    assert (book.written, book.writes, len(book.recent)) == (v1alpha1.dump(then), writes, writes)


# Each row: the status this loop wrote before (oldest first), then what a watch event shows.
@pytest.mark.parametrize(
    ("history", "seen", "not_ours"),
    [
        ([PAUSED], PAUSED, False),  # the last one written
        ([PAUSED, RESUMING, RUNNING], RESUMING, False),  # a late event: one written lately
        ([PAUSED, RUNNING], jobstatus.SyncJobStatus(phase="Failed"), True),
        ([PAUSED], jobstatus.SyncJobStatus(), True),  # someone emptied it
    ],
)
def test_not_ours(
    history: list[jobstatus.SyncJobStatus], seen: jobstatus.SyncJobStatus, not_ours: bool
) -> None:
    book = StatusBook("ns/job")
    book.previous(body(jobstatus.SyncJobStatus()))
    for status in history:
        wrote(book, status)
    assert book.not_ours(body(seen)) is not_ours


def test_before_the_first_pass_nothing_is_foreign() -> None:
    book = StatusBook("ns/job")
    assert not book.not_ours(body(PAUSED))
    assert not book.needs_check(body(PAUSED, version="7"))


def test_each_new_version_whose_status_is_not_ours_is_checked_once() -> None:
    book = StatusBook("ns/job")
    book.previous(body(PAUSED))
    foreign = jobstatus.SyncJobStatus(phase="Running")
    assert not book.needs_check(body(PAUSED, version="2"))  # ours
    assert book.needs_check(body(foreign, version="3"))
    assert not book.needs_check(body(foreign, version="3"))  # the same version again
    assert not book.needs_check(body(foreign, version=None))  # no version to tell
    assert book.needs_check(body(foreign, version="4"))


def test_a_foreign_status_is_the_base_of_the_next_patch_and_the_previous_stays_ours() -> None:
    book = StatusBook("ns/job")
    book.previous(body(PAUSED))
    # The GET shows what the event did: our own status (an old event) is no news.
    assert not book.adopt(body(PAUSED))
    assert book.foreign is None
    edited = {**v1alpha1.dump(PAUSED), "phase": "Running"}
    del edited["pausedAt"]
    assert book.adopt(body(edited))
    # What the loop knows stays the previous status (pausedAt: deadlines count from it).
    assert book.previous(body(edited)) == PAUSED
    # The repair patches the foreign status back to ours, then the base is ours again.
    assert wrote(book, PAUSED) == {"phase": "Paused", "pausedAt": "2026-11-24T10:00:00Z"}
    assert book.foreign is None
    assert wrote(book, PAUSED) == {}


def test_a_foreign_status_that_already_says_ours_costs_no_request() -> None:
    book = StatusBook("ns/job")
    book.previous(body(PAUSED))
    assert book.adopt(body(RUNNING))
    assert wrote(book, RUNNING) == {}
    assert (book.written, book.foreign, book.writes) == (v1alpha1.dump(RUNNING), None, 0)


def test_kept_is_the_next_start_but_not_counted_as_written() -> None:
    book = StatusBook("ns/job")
    book.previous(body(PAUSED))
    book.keep(RUNNING)
    assert book.previous(body(PAUSED)) == RUNNING
    assert (book.writes, len(book.recent)) == (0, 0)


S = jobstatus.SyncJobStatus


@pytest.mark.parametrize(
    ("pace", "status", "held_for", "window", "held"),
    [
        # The first step of a transition, and later ones within the window: held.
        (plan.Pace.TRANSITION, S(phase="Pausing"), None, 1.0, True),
        (plan.Pace.TRANSITION, S(phase="Resuming"), 0.9, 1.0, True),
        # Past the window: written, so a slow pause says Pausing within it.
        (plan.Pace.TRANSITION, S(phase="Pausing"), 1.0, 1.0, False),
        # Landed, or a phase that is not a step on the way: written at once.
        (plan.Pace.TRANSITION, S(phase="Paused"), 0.1, 1.0, False),
        (plan.Pace.WAITING, S(phase="PausePending"), None, 1.0, False),
        (plan.Pace.RETRY, S(phase="Pausing"), None, 1.0, False),
        (plan.Pace.STEADY, S(phase="Running"), 0.1, 1.0, False),
        (plan.Pace.TRANSITION, S(phase="Failed"), None, 1.0, False),
        # A window of 0 turns holding off.
        (plan.Pace.TRANSITION, S(phase="Pausing"), None, 0.0, False),
    ],
)
def test_holds(
    pace: plan.Pace,
    status: jobstatus.SyncJobStatus,
    held_for: float | None,
    window: float,
    held: bool,
) -> None:
    assert holds(pace, status, held_for=held_for, window=window) is held


def test_a_held_status_is_the_next_previous_and_its_events_wait() -> None:
    book = StatusBook("ns/job")
    book.previous({"status": v1alpha1.dump(RUNNING)})
    pausing = S(phase="Pausing", stage="CDC")
    raised = events.transitions(RUNNING, pausing)
    book.hold(pausing, raised, now=10.0)
    assert book.previous({"status": v1alpha1.dump(RUNNING)}) == pausing
    assert book.held_for(10.5) == 0.5
    # The patch is still against what the object holds.
    _, patch = book.patch(PAUSED)
    assert patch["phase"] == "Paused"
    posting = book.to_post(events.transitions(pausing, PAUSED))
    assert [(e.reason, e.message.split(".")[0]) for e in posting] == [
        ("Paused", "Phase Running -> Paused")
    ]
    book.wrote(v1alpha1.dump(PAUSED), patched=True)
    assert book.held is None and book.held_events == [] and book.held_for(11.0) is None
