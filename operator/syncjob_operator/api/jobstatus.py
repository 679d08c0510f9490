"""The SyncJob's status, version v1alpha1: what the operator reports.

Written by the operator only, and only when it changed; read back at the next
pass as the previous status.  Generated into the CRD with the spec.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from syncjob_operator.api import fields

Stage = Literal["Pending", "Snapshot", "CDC", "Unknown"]
Phase = Literal["Running", "PausePending", "Pausing", "Paused", "Resuming", "Failed"]
ConditionStatus = Literal["True", "False", "Unknown"]


class _StatusModel(fields.Model):
    """A part of the status: fields it does not know are ignored, not refused.

    A status may have been written by a newer operator (a rollback, or a
    mixed-version pair during an upgrade); refusing its new fields would make
    the whole status unreadable and lose what counts, pausedAt above all.
    """

    model_config = ConfigDict(extra="ignore")


class Condition(_StatusModel):
    """A condition as the Kubernetes API conventions define it."""

    type: str = Field(description="Ready, Reconciling, Stalled, Paused, RetentionAtRisk, ...")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(description="CamelCase reason for the last transition.")
    message: str = Field(default="", description="Human-readable details.")
    last_transition_time: str = Field(description="When status last changed (RFC 3339).")
    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation this condition was set from."
    )


class TaskStatus(_StatusModel):
    """One Kafka Connect task, as Connect reports it."""

    id: int
    state: str
    worker_id: str | None = None
    trace: str | None = Field(default=None, description="First lines of a failure's trace.")


class ConnectorStatus(_StatusModel):
    """One connector of the job, as Kafka Connect (or Strimzi) reports it."""

    name: str
    state: str = Field(
        description="RUNNING, PAUSED, STOPPED, FAILED, UNASSIGNED, RESTARTING, or NotFound / "
        "Unknown when the operator could not see it."
    )
    type: str | None = Field(default=None, description="source or sink.")
    worker_id: str | None = None
    trace: str | None = None
    tasks: list[TaskStatus] = Field(default_factory=list)


class WorkloadStatus(_StatusModel):
    """A scaled workload."""

    api_version: str
    kind: str
    name: str
    replicas: int | None = Field(default=None, description="Desired replicas now (spec).")
    ready_replicas: int = Field(default=0, description="Ready replicas (missing counts as 0).")
    saved_replicas: int | None = Field(
        default=None, description="The count to restore on resume, saved before scaling to zero."
    )
    message: str | None = None


class RetentionStatus(_StatusModel):
    """Where the retention deadline comes from, and the figures behind it."""

    basis: str = Field(description="The bound that binds, e.g. postgresql:safe_wal_size.")
    message: str = Field(default="")
    retained_bytes: int | None = None
    safe_bytes: int | None = None
    wal_bytes_per_second: float | None = Field(
        default=None, description="PostgreSQL: the smoothed WAL write rate, as of walSampledAt."
    )
    # The rate's last sample, kept with it so that a restarted operator (or
    # the next leader) goes on measuring from it instead of from nothing.
    wal_sample_lsn: str | None = Field(
        default=None, description="PostgreSQL: the WAL position the rate was last measured at."
    )
    wal_sampled_at: str | None = Field(
        default=None,
        description="PostgreSQL: when walSampleLsn was read (the server's clock, RFC 3339).",
    )
    expire_seconds: int | None = None
    anchor: str | None = Field(
        default=None,
        description="What the deadline counts from: pausedAt, or the committed position's "
        "source time (position) when the connector was behind at the pause.",
    )
    position_time: str | None = Field(
        default=None, description="The source time of the committed position (RFC 3339)."
    )
    lost: bool = False


class AutoResumeStatus(_StatusModel):
    """Set when the operator resumed a paused job by itself to keep its change log."""

    at: str = Field(description="When the operator resumed the job.")
    deadline: str | None = Field(default=None, description="The deadline it resumed ahead of.")
    generation: int = Field(description="The spec generation that asked for the pause.")
    reason: str = Field(default="")


class CdcStatus(_StatusModel):
    """How far behind the job is, and when it will have caught up (rewritten only on a move)."""

    last_event_time: str | None = Field(
        default=None,
        description="Source time of the last change the source connectors committed.",
    )
    backlog_bytes: int | None = Field(
        default=None,
        description="Source change log not yet read: PostgreSQL WAL past confirmed_flush_lsn.",
    )
    sink_lag: int | None = Field(
        default=None,
        description="Records the sink connectors' consumer groups are behind the topics' ends.",
    )
    estimated_catch_up_seconds: int | None = Field(
        default=None, description="While catching up: the time left at the measured drain rate."
    )
    catching_up_since: str | None = Field(
        default=None, description="When the catch-up after a resume began (cleared once done)."
    )
    measured_at: str | None = Field(default=None, description="When these figures were probed.")


class RestartStatus(_StatusModel):
    """The automatic restarts of FAILED connectors and tasks (spec.autoRestart)."""

    count: int = Field(default=0, description="Restarts since the count last started over.")
    last_restart_time: str | None = None
    last_trace: str | None = Field(default=None, description="What failed before the last one.")


class SyncJobStatus(_StatusModel):
    """The observed state of a SyncJob, written by the operator only when it changes."""

    observed_generation: int | None = None
    stage: Stage | None = Field(default=None, description="Pending, Snapshot, CDC or Unknown.")
    phase: Phase | None = Field(
        default=None,
        description="Running, PausePending, Pausing, Paused, Resuming or Failed.",
    )
    paused_at: str | None = Field(default=None, description="When the current pause began.")
    retention_deadline: str | None = Field(
        default=None,
        description="While paused: when the source will purge change log the job still needs.",
    )
    retention: RetentionStatus | None = None
    auto_resumed: AutoResumeStatus | None = None
    cdc: CdcStatus | None = None
    restarts: RestartStatus | None = None
    connectors: list[ConnectorStatus] = Field(default_factory=list)
    workloads: list[WorkloadStatus] = Field(default_factory=list)
    kafka_connectors: list[ConnectorStatus] = Field(default_factory=list)
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
