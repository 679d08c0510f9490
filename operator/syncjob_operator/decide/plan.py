"""What one decision returns (actions, status, events, pace) and what it is given besides.

Plain frozen values: the handlers carry the actions out, write the status
(only when it changed), post the events and sleep as long as the pace says.
:class:`Context` is what a decision needs besides the spec and the
observation: the clock, the previous status, and the retention bound probed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.decide import backlog, retention
from syncjob_operator.decide.observed import BackendError

# What a connector can be asked to become (PUT /stop, /pause, /resume).
ConnectTarget = Literal["RUNNING", "PAUSED", "STOPPED"]
# A Strimzi KafkaConnector's spec.state.
StrimziState = Literal["running", "paused", "stopped"]
EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class ConnectorAction:
    """Ask Kafka Connect to move a connector to ``target`` (PUT pause/stop/resume)."""

    name: str
    target: ConnectTarget


@dataclass(frozen=True)
class KafkaConnectorAction:
    """Set a Strimzi KafkaConnector's ``spec.state``."""

    name: str
    state: StrimziState


@dataclass(frozen=True)
class ScaleAction:
    """Scale a workload; when ``save`` is set, record it on the workload first."""

    ref: jobspec.WorkloadRef
    replicas: int
    save: int | None = None


@dataclass(frozen=True)
class ClearSavedReplicasAction:
    """The workload is back at its saved count: forget the count."""

    ref: jobspec.WorkloadRef


@dataclass(frozen=True)
class RestartAction:
    """Restart a connector's FAILED parts (POST restart?includeTasks=true&onlyFailed=true).

    ``attempt`` numbers the restart (status.restarts.count), so each is a new request.
    """

    name: str
    attempt: int


Action = (
    ConnectorAction | KafkaConnectorAction | ScaleAction | ClearSavedReplicasAction | RestartAction
)


@dataclass(frozen=True)
class PhaseChange:
    """The phase change an Event announces, kept so that held Events can be merged."""

    before: jobstatus.Phase | None
    after: jobstatus.Phase
    # What the Ready condition said of the new phase.
    detail: str = ""


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post on the SyncJob."""

    type: EventType
    reason: str
    message: str
    # Set on the Event of a phase change (see events.coalesce); not part of its identity.
    phase_change: PhaseChange | None = field(default=None, compare=False)


class Pace(StrEnum):
    """How soon to look again; the handler turns it into a bounded delay."""

    TRANSITION = "Transition"  # something was asked and is on its way: poll fast, back off
    WAITING = "Waiting"  # waiting for the CDC stage: poll the offsets at a modest rate
    STEADY = "Steady"  # converged: resync at the resync interval
    RETRY = "Retry"  # an error: back off


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    status: jobstatus.SyncJobStatus
    events: tuple[Event, ...]
    pace: Pace


@dataclass(frozen=True)
class Context:
    """What a decision needs besides the spec and the observation."""

    generation: int
    now: datetime
    previous: jobstatus.SyncJobStatus
    # Seconds since the current pause/resume began, and the bound on it.
    transition_elapsed: float = 0.0
    transition_timeout: float = 300.0
    # Seconds the backends have been failing without a break (transient
    # errors: unreachable, 5xx, timeouts), and how long that may last before
    # it is no longer "retrying" but Stalled: an outage is worth an alert.
    errors_elapsed: float = 0.0
    stall_after: float = 300.0
    # The retention bound that binds (already combined), when probed.
    retention: retention.RetentionBound | None = None
    retention_errors: tuple[BackendError, ...] = ()
    # How far behind the running job is (decide.catchup), when probed.
    backlog: backlog.Measure | None = None
