"""What one job's loop wrote to its status, so that an unchanged status costs no request.

Status is diffed against what the loop wrote last, and only the difference
is patched.  A status changed by anyone else (``kubectl --subresource=status``,
a restore from backup) would then never be put right, so the book also keeps
the statuses written lately and the object's last version seen: a watched
object whose status is none of ours is checked (one GET, by the loop) and,
when it really is foreign, becomes the base of the next patch.  What the loop
knows (``pausedAt`` above all: deadlines count from it) stays the previous
status; the foreign one is only the patch's base.

A transition's first steps can be *held* rather than written (see
:func:`holds`): the loop goes on from the held status as if written, and
the next write carries it, with its Events merged into that write's.

No I/O here: the loop reads and writes, the book says what and remembers.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic

from syncjob_operator.api import jobstatus, v1alpha1
from syncjob_operator.decide import events, plan
from syncjob_operator.decide.patch import merge_patch

logger = logging.getLogger(__name__)

# How many of its own recent writes the loop recognises in a watch event that
# arrives late (older than the last write).
RECENT_WRITES = 16

# A job of a crowd (several jobs in a pause or resume on one Connect cluster)
# holds a step on the way this many times as long.  In a storm the API
# server is what every job waits on, and a Pausing written before its Paused
# is one more status write and Event: with a 1 s hold, 39 of a storm's 200
# pauses of 200 connectors wrote both (the scale bench).
CROWD_HOLD = 3.0

# The phases on the way to another: a status in one of them may be held.
STEPS_ON_THE_WAY = ("Pausing", "Resuming")


def holds(
    pace: plan.Pace, status: jobstatus.SyncJobStatus, *, held_for: float | None, window: float
) -> bool:
    """Whether a pass's status is held back rather than written.

    Only a step on the way of a transition that is still polled, and only
    for ``window`` seconds from the first status held (``held_for`` is how
    long ago that was; None when nothing is held): a pause that lands in
    100 ms is reported once, Paused; one that takes longer says Pausing
    after ``window`` at the latest.  Anything else (a wait for the CDC
    stage, an error, a settled job) is written at once.
    """
    if window <= 0 or pace is not plan.Pace.TRANSITION:
        return False
    if status.phase not in STEPS_ON_THE_WAY:
        return False
    return held_for is None or held_for < window


def digest(status: Mapping[str, Any]) -> bytes:
    """A status's fingerprint: what the book keeps of its recent writes.

    Only ever compared for equality, so 16 bytes stand for a status of a few
    KiB; a thousand jobs with sixteen writes each would otherwise hold ~16,000
    copies of their statuses (~14 KiB a job after one pause and resume,
    measured by the memory bench).
    """
    text = json.dumps(status, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


@dataclass
class StatusBook:
    """One job's status bookkeeping; ``job`` ("namespace/name") only names it in logs."""

    job: str
    # The status as the loop last wrote (or found) it; None before the first pass.
    written: dict[str, Any] | None = None
    # The digests of the statuses it wrote lately (see :func:`digest`).
    recent: deque[bytes] = field(default_factory=lambda: deque(maxlen=RECENT_WRITES))
    last_seen_version: str | None = None
    # A status someone else wrote over ours: the base of the next patch.
    foreign: dict[str, Any] | None = None
    writes: int = 0
    # A status decided but not written yet (see :func:`holds`), its Events,
    # and when (monotonic seconds) the first of a run of holds was.
    held: jobstatus.SyncJobStatus | None = None
    held_events: list[plan.Event] = field(default_factory=list)
    held_since: float | None = None

    def read(self, raw: Any) -> jobstatus.SyncJobStatus:
        """A status as the API has it; an unreadable one reads as empty."""
        try:
            return v1alpha1.parse_status(dict(raw or {}))
        except pydantic.ValidationError as exc:
            # Not one this operator wrote: start over rather than fail every pass.
            logger.warning(
                "ignoring an unreadable status of %s: %s", self.job, exc.errors()[0]["msg"]
            )
            return jobstatus.SyncJobStatus()

    def previous(self, body: Mapping[str, Any]) -> jobstatus.SyncJobStatus:
        """The status a pass starts from: held, else written, else (first pass) the object's."""
        if self.held is not None:
            return self.held
        previous = self.read(self.written if self.written is not None else body.get("status"))
        if self.written is None:
            self.written = v1alpha1.dump(previous)
        return previous

    def not_ours(self, body: Mapping[str, Any]) -> bool:
        """Whether the object's status is none of the ones this loop wrote lately."""
        if self.written is None:
            return False
        seen = v1alpha1.dump(self.read(body.get("status")))
        return seen != self.written and digest(seen) not in self.recent

    def needs_check(self, body: Mapping[str, Any]) -> bool:
        """A new version of the object whose status is not ours: GET it, then :meth:`adopt`.

        The GET tells a foreign write from a watch event that is merely older
        than the loop's last write.  Each version is checked once.
        """
        version = body.get("metadata", {}).get("resourceVersion")
        if version is None or version == self.last_seen_version:
            return False
        self.last_seen_version = version
        return self.not_ours(body)

    def adopt(self, fresh: Mapping[str, Any]) -> bool:
        """The object as just read: whether its status is foreign (then the next patch's base)."""
        live = v1alpha1.dump(self.read(fresh.get("status")))
        if live == self.written:
            return False
        self.foreign = live
        return True

    def patch(self, status: jobstatus.SyncJobStatus) -> tuple[dict[str, Any], dict[str, Any]]:
        """The status as written, and the merge patch that writes it (empty: nothing to do)."""
        new = v1alpha1.dump(status)
        base = self.foreign if self.foreign is not None else self.written
        return new, merge_patch(base or {}, new)

    def wrote(self, new: dict[str, Any], *, patched: bool) -> None:
        """``new`` is now the object's status: patched, or (no patch) it said so already."""
        if patched:
            self.recent.append(digest(new))
            self.writes += 1
        self.written = new
        self.foreign = None
        self.held, self.held_events, self.held_since = None, [], None

    def held_for(self, now: float) -> float | None:
        """How long statuses have been held (None: nothing is)."""
        return None if self.held_since is None else now - self.held_since

    def hold(self, status: jobstatus.SyncJobStatus, raised: list[plan.Event], now: float) -> None:
        """``status`` is the next pass's previous one, unwritten; its Events wait with it."""
        self.held = status
        self.held_events = events.coalesce(self.held_events, raised)
        if self.held_since is None:
            self.held_since = now

    def to_post(self, raised: list[plan.Event]) -> list[plan.Event]:
        """The Events to post with the next write: the held ones merged with ``raised``."""
        return events.coalesce(self.held_events, raised)

    def keep(self, status: jobstatus.SyncJobStatus) -> None:
        """The next pass starts from ``status``, which is not written (the job is going)."""
        self.written = v1alpha1.dump(status)
        self.held, self.held_events, self.held_since = None, [], None
