"""Conditions as the Kubernetes API conventions and kstatus read them.

``lastTransitionTime`` changes only when a condition's status flips, so a
status rewritten with the same meaning compares equal and is not written
again.  ``Reconciling`` and ``Stalled`` are "abnormal-true" (kstatus); ``Ready``
is what GitOps tools read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from syncjob_operator.api.jobstatus import Condition, ConditionStatus

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
PAUSED = "Paused"
RETENTION_AT_RISK = "RetentionAtRisk"
RETENTION_EXCEEDED = "RetentionExceeded"

ORDER = (READY, RECONCILING, STALLED, PAUSED, RETENTION_AT_RISK, RETENTION_EXCEEDED)


@dataclass(frozen=True)
class Wanted:
    """A condition as a decision wants it, before transition times are kept."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""


def merge(
    previous: Iterable[Condition], wanted: Iterable[Wanted], *, now: str, generation: int | None
) -> list[Condition]:
    """The new conditions list: wanted ones, keeping transition times that did not flip.

    Conditions not in ``wanted`` are dropped, except those whose types this
    operator does not own (kept as they are).
    """
    before = {c.type: c for c in previous}
    out: dict[str, Condition] = {}
    for w in wanted:
        old = before.get(w.type)
        since = old.last_transition_time if old is not None and old.status == w.status else now
        out[w.type] = Condition(
            type=w.type,
            status=w.status,
            reason=w.reason,
            message=w.message,
            last_transition_time=since,
            observed_generation=generation,
        )
    for c in previous:
        if c.type not in out and c.type not in ORDER:
            out[c.type] = c
    rank = {t: i for i, t in enumerate(ORDER)}
    return sorted(out.values(), key=lambda c: (rank.get(c.type, len(ORDER)), c.type))


def find(conditions: Iterable[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def is_true(conditions: Iterable[Condition], type_: str) -> bool:
    c = find(conditions, type_)
    return c is not None and c.status == "True"
