"""Reading what the operator wrote: a SyncJob's status and its conditions.

Why this exists: tests wait for the operator to converge and then look at
single conditions; "converged" has one meaning everywhere (the phase wanted,
for the current generation).
"""

from __future__ import annotations

from typing import Any

from tests.helpers.kube import Kube


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def status(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    """The SyncJob's status (empty when there is none, or no SyncJob)."""
    return dict(((kube.get("syncjob", name, namespace) or {}).get("status")) or {})


def converged(kube: Kube, namespace: str, name: str, want: str) -> dict[str, Any] | None:
    """The SyncJob once its status says phase ``want`` for its current generation."""
    obj = kube.get("syncjob", name, namespace)
    status = (obj or {}).get("status") or {}
    if (
        obj
        and status.get("phase") == want
        and status.get("observedGeneration") == obj["metadata"]["generation"]
    ):
        return obj
    return None


def told_the_way(messages: list[str], start: str, step: str, end: str) -> bool:
    """Whether the Events told a transition from ``start`` to ``end``.

    One that landed within the operator's status hold is one Event
    ("Phase Running -> Paused"); a slower one told its step on the way too
    ("Running -> Pausing", then "Pausing -> Paused").
    """
    said = {m.split(".", 1)[0] for m in messages}
    return (
        f"Phase {start} -> {end}" in said
        or {
            f"Phase {start} -> {step}",
            f"Phase {step} -> {end}",
        }
        <= said
    )
