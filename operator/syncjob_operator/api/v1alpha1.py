"""The SyncJob API, version v1alpha1: the one source of truth.

The CRD in ``crds/`` is generated from these models (``make crds``), so every
field's description is what ``kubectl explain`` prints, and every rule the API
server enforces (patterns, enums, CEL) is declared here, next to the field.
The operator validates each object into these models before it decides
anything, so the schema and the code cannot disagree.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.alias_generators import to_camel

GROUP = "syncjob.dev"
VERSION = "v1alpha1"
KIND = "SyncJob"
PLURAL = "syncjobs"
SINGULAR = "syncjob"
SHORT_NAMES = ["sj"]

# Go duration syntax (what metav1.Duration and CEL's duration() accept), so
# the CEL rules below can compare durations.  Days are not Go syntax: "72h".
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# Kafka Connect connector names: anything but blank, a slash or surrounding space.
CONNECTOR_NAME_PATTERN = r"^[^/\s]([^/]*[^/\s])?$"
BOOTSTRAP_PATTERN = r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}(,[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5})*$"

Duration = Annotated[
    str,
    Field(
        pattern=DURATION_PATTERN,
        max_length=32,
        json_schema_extra={"example": "72h"},
    ),
]
ConnectorName = Annotated[str, Field(min_length=1, max_length=249, pattern=CONNECTOR_NAME_PATTERN)]
ObjectName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]

PauseMode = Literal["Pause", "Stop"]
SourceType = Literal["postgresql", "mysql", "mariadb", "sqlserver", "oracle"]
OnDelete = Literal["Resume", "Leave"]
Stage = Literal["Pending", "Snapshot", "CDC", "Unknown"]
Phase = Literal["Running", "PausePending", "Pausing", "Paused", "Resuming", "Failed"]
ConditionStatus = Literal["True", "False", "Unknown"]

# Sources whose retention the operator can read from the database itself.
PROBED_SOURCES: tuple[SourceType, ...] = ("postgresql", "mysql", "mariadb", "sqlserver")


def _cel(rule: str, message: str, field_path: str | None = None) -> JsonValue:
    validation: dict[str, JsonValue] = {"rule": rule, "message": message}
    if field_path:
        validation["fieldPath"] = field_path
    return validation


class _Model(BaseModel):
    """camelCase on the wire, snake_case in Python, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


class SecretRef(_Model):
    """A Secret in the SyncJob's namespace."""

    name: ObjectName = Field(description="Name of a Secret in the SyncJob's namespace.")


class ConnectSpec(_Model):
    """Pause through the Kafka Connect REST API."""

    url: str = Field(
        max_length=2048,
        pattern=r"^https?://[^\s/?#]+(/[^\s]*)?$",
        description=(
            "Base URL of the Kafka Connect REST API, for example "
            "http://connect.kafka.svc:8083. https:// uses the CA bundle from authSecretRef "
            "(key ca.crt) when one is given."
        ),
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel("isURL(self)", "must be a well-formed http:// or https:// URL"),
            ]
        },
    )
    connectors: list[ConnectorName] = Field(
        min_length=1,
        max_length=50,
        description=(
            "Names of the job's connectors in Kafka Connect: its Debezium source connectors "
            "and its MongoDB sink connector. Each is paused and resumed; the stage is read "
            "from the source connectors' committed offsets."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    auth_secret_ref: SecretRef | None = Field(
        default=None,
        description=(
            "Secret with the credentials for the REST API: keys username and password "
            "(basic auth) or token (bearer), and optionally ca.crt (a PEM CA bundle for "
            "https). Never copied into status, Events or logs."
        ),
    )
    request_timeout: Duration = Field(
        default="10s",
        description="Timeout of each REST request to Kafka Connect (Go duration).",
    )


class WorkloadRef(_Model):
    """A workload with a scale subresource, in the SyncJob's namespace."""

    api_version: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?v[0-9]+((alpha|beta)[0-9]+)?$",
        description="API version of the workload, for example apps/v1 or kafka.strimzi.io/v1beta2.",
    )
    kind: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[A-Z][A-Za-z0-9]*$",
        description="Kind of the workload, for example Deployment, StatefulSet or KafkaConnect.",
    )
    name: ObjectName = Field(description="Name of the workload in the SyncJob's namespace.")


class KafkaConnectorRef(_Model):
    """A Strimzi KafkaConnector (kafka.strimzi.io/v1beta2) in the SyncJob's namespace."""

    name: ObjectName = Field(description="Name of the KafkaConnector resource.")


class SourceSpec(_Model):
    """The relational source database, probed read-only for its change-log retention."""

    type: SourceType = Field(
        description=(
            "Kind of source database. postgresql, mysql, mariadb and sqlserver are probed for "
            "their retention; oracle cannot be, and needs spec.source.retention."
        )
    )
    connection_secret_ref: SecretRef | None = Field(
        default=None,
        description=(
            "Secret with a read-only connection to the source: either key uri, or keys host, "
            "port, dbname (or database), user (or username), password; optional sslmode and "
            "ca.crt. Used only to read retention settings and replication-slot state."
        ),
    )
    slot_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9_]+$",
        description=(
            "PostgreSQL: the Debezium connector's replication slot (its slot.name), whose "
            "retained WAL bounds how long the job can stay paused."
        ),
    )
    retention: Duration | None = Field(
        default=None,
        description=(
            "How long the source keeps change log the job still needs, when the database cannot "
            "tell (Oracle archive logs, a managed service's binlog retention). Where set it "
            "overrides what the database reports."
        ),
    )


class KafkaSpec(_Model):
    """The Kafka cluster between source and sink, probed for topic retention."""

    bootstrap_servers: str = Field(
        max_length=4096,
        pattern=BOOTSTRAP_PATTERN,
        description="Comma-separated host:port list of Kafka brokers.",
    )
    config_secret_ref: SecretRef | None = Field(
        default=None,
        description=(
            "Secret whose keys are librdkafka client settings (security.protocol, "
            "sasl.mechanism, sasl.username, sasl.password, ssl.ca.pem ...), for example a "
            "Confluent Cloud API key."
        ),
    )
    topics: list[Annotated[str, Field(min_length=1, max_length=249)]] = Field(
        default_factory=list,
        max_length=200,
        description=(
            "The job's change-event topics. Their retention.ms also bounds how long the job can "
            "stay paused (the sink must read them before Kafka deletes them)."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


class RetentionPolicy(_Model):
    """What the operator does as the retention deadline of a paused job approaches."""

    warn_before: Duration = Field(
        default="6h",
        description="From this long before the deadline: a Warning Event and RetentionAtRisk=True.",
    )
    auto_resume_before: Duration | None = Field(
        default=None,
        description=(
            "If set, the operator resumes a paused job by itself this long before the retention "
            "deadline rather than let events be lost. spec.paused stays as it is in Git; the "
            "status says AutoResumed until spec.paused is set to false (or the spec changes)."
        ),
    )


class SyncJobSpec(_Model):
    """The desired state of one continuous relational-to-MongoDB sync job."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "has(self.connect) || (has(self.workloads) && size(self.workloads) > 0)"
                    " || (has(self.kafkaConnectors) && size(self.kafkaConnectors) > 0)",
                    "at least one way to pause is required: spec.connect, spec.workloads or "
                    "spec.kafkaConnectors",
                ),
            ]
        }
    )

    paused: bool = Field(
        default=False,
        description=(
            "The desired runtime state: true pauses the job (once it is in the CDC stage), "
            "false runs it. Like Strimzi's spec.state, not 'stop reconciling'."
        ),
    )
    pause_mode: PauseMode = Field(
        default="Pause",
        description=(
            "Pause: connectors are paused and keep their tasks (PUT /pause, KafkaConnector "
            "state paused). Stop: connectors are stopped and release their tasks (PUT /stop, "
            "Kafka Connect 3.5+, state stopped); a FAILED connector can be stopped but not paused."
        ),
    )
    connect: ConnectSpec | None = Field(
        default=None,
        description="Pause the job's connectors through the Kafka Connect REST API.",
    )
    workloads: list[WorkloadRef] = Field(
        default_factory=list,
        max_length=20,
        description=(
            "Pause by scaling these workloads (anything with a scale subresource) to zero; "
            "resuming restores the exact replica count they had."
        ),
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["kind", "name"],
        },
    )
    kafka_connectors: list[KafkaConnectorRef] = Field(
        default_factory=list,
        max_length=50,
        description="Pause these Strimzi KafkaConnector resources through their spec.state.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
    )
    source: SourceSpec | None = Field(
        default=None,
        description="The source database, read for the retention deadline of a paused job.",
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "self.type != 'oracle' || has(self.retention)",
                    "oracle retention cannot be read from the database: set spec.source.retention",
                ),
                _cel(
                    "self.type == 'oracle' || has(self.connectionSecretRef) || has(self.retention)",
                    "spec.source.connectionSecretRef is required to read the retention from the "
                    "database (or set spec.source.retention)",
                ),
                _cel(
                    "self.type != 'postgresql' || !has(self.connectionSecretRef)"
                    " || has(self.slotName)",
                    "spec.source.slotName is required to probe a postgresql replication slot",
                ),
            ]
        },
    )
    kafka: KafkaSpec | None = Field(
        default=None,
        description="The Kafka cluster, read for the retention of the job's topics.",
    )
    retention_policy: RetentionPolicy = Field(
        default_factory=RetentionPolicy,
        description="Warnings and automatic resume before the retention deadline.",
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "!has(self.autoResumeBefore) || !has(self.warnBefore)"
                    " || duration(self.autoResumeBefore) < duration(self.warnBefore)",
                    "autoResumeBefore must be shorter than warnBefore (warn first, then resume)",
                ),
            ]
        },
    )
    on_delete: OnDelete = Field(
        default="Resume",
        description=(
            "What deleting the SyncJob does to a paused job: Resume (the default) resumes its "
            "connectors and restores its workloads, so nothing is left paused with nobody "
            "watching the retention deadline; Leave leaves them as they are."
        ),
    )


# --- status -----------------------------------------------------------------


class Condition(_Model):
    """A condition as the Kubernetes API conventions define it."""

    type: str = Field(description="Ready, Reconciling, Stalled, Paused, RetentionAtRisk, ...")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(description="CamelCase reason for the last transition.")
    message: str = Field(default="", description="Human-readable details.")
    last_transition_time: str = Field(description="When status last changed (RFC 3339).")
    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation this condition was set from."
    )


class TaskStatus(_Model):
    """One Kafka Connect task, as Connect reports it."""

    id: int
    state: str
    worker_id: str | None = None
    trace: str | None = Field(default=None, description="First lines of a failure's trace.")


class ConnectorStatus(_Model):
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


class WorkloadStatus(_Model):
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


class RetentionStatus(_Model):
    """Where the retention deadline comes from, and the figures behind it."""

    basis: str = Field(description="The bound that binds, e.g. postgresql:safe_wal_size.")
    message: str = Field(default="")
    retained_bytes: int | None = None
    safe_bytes: int | None = None
    wal_bytes_per_second: float | None = None
    expire_seconds: int | None = None
    lost: bool = False


class AutoResumeStatus(_Model):
    """Set when the operator resumed a paused job by itself to keep its change log."""

    at: str = Field(description="When the operator resumed the job.")
    deadline: str | None = Field(default=None, description="The deadline it resumed ahead of.")
    generation: int = Field(description="The spec generation that asked for the pause.")
    reason: str = Field(default="")


class SyncJobStatus(_Model):
    """The observed state of a SyncJob, written by the operator only when it changes."""

    model_config = ConfigDict(extra="ignore")

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


def parse_spec(raw: dict[str, Any]) -> SyncJobSpec:
    """Validate a SyncJob's .spec as the API server stored it."""
    return SyncJobSpec.model_validate(raw)


def parse_status(raw: dict[str, Any] | None) -> SyncJobStatus:
    """Read back a status written earlier; unknown keys (e.g. Kopf's) are ignored."""
    return SyncJobStatus.model_validate(raw or {})


def dump(model: BaseModel) -> dict[str, Any]:
    """The wire form: camelCase, without unset optional fields."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
