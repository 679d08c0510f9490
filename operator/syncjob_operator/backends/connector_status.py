"""Kafka Connect's connector status JSON, read into an observation.

Why this exists: two adapters read the same JSON, Kafka Connect's REST API
(``GET /connectors/{n}/status``, and the same object per connector in
``GET /connectors?expand=status``) and Strimzi, which copies it into a
KafkaConnector's ``status.connectorStatus``; each stays independent of the
other by sharing this one reading of it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from syncjob_operator.decide.observed import ConnectorState, TaskState, connect_state


def connector_state_from_status(name: str, body: Mapping[str, Any]) -> ConnectorState:
    """A connector and its tasks from Connect's status JSON (GET /connectors/{n}/status)."""
    connector = body.get("connector") or {}
    tasks = tuple(
        TaskState(
            id=int(t.get("id", 0)),
            state=connect_state(str(t.get("state", "UNASSIGNED"))),
            worker_id=t.get("worker_id"),
            trace=t.get("trace"),
        )
        for t in sorted(body.get("tasks") or [], key=lambda t: int(t.get("id", 0)))
    )
    return ConnectorState(
        name=name,
        state=connect_state(str(connector.get("state", "UNASSIGNED"))),
        type=body.get("type"),
        worker_id=connector.get("worker_id"),
        trace=connector.get("trace"),
        tasks=tasks,
    )


def connector_states_from_listing(body: Any) -> Mapping[str, ConnectorState]:
    """Every connector of ``GET /connectors?expand=status``, by name.

    The listing maps each name to ``{"status": <the /status JSON>}``, the
    status with the connector's type.  A listing with ``info`` too (an older
    operator's request, or a proxy's) gives the type of a connector whose
    status is missing (created a moment ago); without it, that connector's
    type is learnt on a later pass.  Anything that is not an object reads as
    no connectors.
    """
    if not isinstance(body, Mapping):
        return {}
    # Only the status and the type are kept: an info expansion carries each
    # connector's config, credentials included.
    return ListedStates(
        {
            str(name): (_object(entry.get("status")), _object(entry.get("info")).get("type"))
            for name, entry in body.items()
            if isinstance(entry, Mapping)
        }
    )


class ListedStates(Mapping[str, ConnectorState]):
    """A listing's connectors, each read from its JSON when first asked for.

    A listing is shared by every job of the cluster, and in a storm a new
    one comes every 100 ms while each job reads only its own connectors
    from it: reading all 200 of each was 7 % of the event loop's time.
    """

    def __init__(self, entries: dict[str, tuple[Mapping[str, Any], str | None]]) -> None:
        self._entries = entries
        self._read: dict[str, ConnectorState] = {}

    def __getitem__(self, name: str) -> ConnectorState:
        state = self._read.get(name)
        if state is None:
            status, ctype = self._entries[name]
            state = connector_state_from_status(name, status)
            if ctype:
                state = replace(state, type=ctype)
            self._read[name] = state
        return state

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
