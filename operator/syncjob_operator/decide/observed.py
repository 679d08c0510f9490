"""What the adapters saw, as plain immutable values the decisions read.

The backends (Kafka Connect, Kubernetes workloads, Strimzi) and probes turn
their I/O into these; the pure functions in ``decide`` take nothing else.
Keeping this vocabulary small and I/O-free is what lets the reconcile logic be
tested with tables of cases and no servers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast, get_args

from syncjob_operator.api import jobspec

# Kafka Connect's states (its AbstractStatus.State), plus two of ours for what
# could not be seen.  DESTROYED is written when a connector is deleted; its
# status is then gone too, so it is listed for completeness, not expected.
ConnectState = Literal[
    "RUNNING",
    "PAUSED",
    "STOPPED",
    "FAILED",
    "UNASSIGNED",
    "RESTARTING",
    "DESTROYED",
    "NotFound",
    "Unknown",
]
RUNNING: Final = "RUNNING"
PAUSED: Final = "PAUSED"
STOPPED: Final = "STOPPED"
FAILED: Final = "FAILED"
UNASSIGNED: Final = "UNASSIGNED"
RESTARTING: Final = "RESTARTING"
NOT_FOUND: Final = "NotFound"
UNKNOWN: Final = "Unknown"

_CONNECT_STATES: frozenset[str] = frozenset(get_args(ConnectState))


def connect_state(text: str) -> ConnectState:
    """A state as Connect (or Strimzi's copy of its status) wrote it.

    Anything outside Connect's own list reads as Unknown: what nobody can
    interpret is not acted on as if it were a state.
    """
    return cast(ConnectState, text) if text in _CONNECT_STATES else UNKNOWN


Backend = Literal["connect", "workloads", "kafkaConnectors", "source", "kafka", "secrets"]


@dataclass(frozen=True)
class BackendError:
    """A failure to observe or act, named so a condition can carry it.

    ``transient`` errors (a refused connection, a 5xx, a timeout, a rebalance)
    are retried with backoff and leave the job Reconciling; the others (bad
    credentials, a missing connector or workload) need someone to act, and
    make it Stalled.
    """

    backend: Backend
    reason: str  # CamelCase: ConnectUnreachable, ConnectorNotFound, WorkloadNotFound ...
    message: str
    transient: bool
    subject: str = ""  # the connector or workload it concerns, if one


@dataclass(frozen=True)
class TaskState:
    id: int
    state: ConnectState
    worker_id: str | None = None
    trace: str | None = None


@dataclass(frozen=True)
class ConnectorState:
    """One connector as Kafka Connect (or Strimzi's status copy of it) reports it.

    ``requested`` is what has been asked of it where that is visible: a
    KafkaConnector's ``spec.state`` as it is written (running/paused/stopped,
    or whatever someone set).  ``offsets`` are
    the committed source offsets (partition-less maps) when they were read.
    """

    name: str
    state: ConnectState
    type: str | None = None
    worker_id: str | None = None
    trace: str | None = None
    tasks: tuple[TaskState, ...] = ()
    requested: str | None = None
    offsets: tuple[Mapping[str, Any], ...] | None = None

    @property
    def failed(self) -> bool:
        return self.state == FAILED or any(t.state == FAILED for t in self.tasks)

    def failure(self) -> str:
        """Which part failed, for a message."""
        if self.state == FAILED:
            return f"connector {self.name} is FAILED"
        ids = [str(t.id) for t in self.tasks if t.state == FAILED]
        return f"connector {self.name} task {', '.join(ids)} FAILED"


@dataclass(frozen=True)
class WorkloadState:
    """A workload's scale, readiness and the replica count saved for resume."""

    ref: jobspec.WorkloadRef
    found: bool
    replicas: int | None = None  # desired (spec.replicas through the scale subresource)
    current_replicas: int = 0  # pods that exist (scale status.replicas); missing = 0
    ready_replicas: int = 0  # missing readyReplicas counts as 0
    saved_replicas: int | None = None  # from the workload's annotation


@dataclass(frozen=True)
class Observed:
    """Everything one reconcile pass saw."""

    connectors: tuple[ConnectorState, ...] = ()
    kafka_connectors: tuple[ConnectorState, ...] = ()
    workloads: tuple[WorkloadState, ...] = ()
    errors: tuple[BackendError, ...] = ()
    # Connect was not asked because the workers are scaled to zero by this
    # pause: its connectors are as paused as they can be.
    connect_skipped: bool = False
    # The errors Kafka Connect's REST API gave this pass, not yet judged:
    # decide.workers.settle moves them to errors, or drops them as connect_skipped.
    connect_errors: tuple[BackendError, ...] = ()
    # The stage's offsets as Kafka Connect's offsets topic holds them (spec.kafka),
    # by connector name, where they were read from it this pass; None otherwise.
    topic_offsets: Mapping[str, tuple[Mapping[str, Any], ...]] | None = None
    # Kafka Connect answered that it serves no offsets (older than 3.5).
    connect_without_offsets: bool = False
    # Each connector's type as Connect last told it (a connector unread this pass has none).
    connector_types: Mapping[str, str] = field(default_factory=dict)
    # Reading the offsets topic failed: errors only while a pause waits for the stage.
    stage_errors: tuple[BackendError, ...] = ()
