"""Kafka Connect's connector status JSON, read into an observation.

Why this exists: two adapters read the same JSON, Kafka Connect's REST API
(``GET /connectors/{n}/status``) and Strimzi, which copies it into a
KafkaConnector's ``status.connectorStatus``; each stays independent of the
other by sharing this one reading of it.
"""

from __future__ import annotations

from collections.abc import Mapping
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
