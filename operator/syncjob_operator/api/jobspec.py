"""The SyncJob's spec, version v1alpha1: what users write, the one source of truth.

The CRD in ``crds/`` is generated from these models (``make crds``), so every
field's description is what ``kubectl explain`` prints, and every rule the API
server enforces (patterns, enums, CEL) is declared here, next to the field.
The operator validates each object into these models before it decides
anything, so the schema and the code cannot disagree.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from syncjob_operator.api import fields

PauseMode = Literal["Pause", "Stop"]
SourceType = Literal["postgresql", "mysql", "mariadb", "sqlserver", "oracle"]
OnDelete = Literal["Resume", "Leave"]


class SecretRef(fields.Model):
    """A Secret in the SyncJob's namespace."""

    name: fields.ObjectName = Field(description="Name of a Secret in the SyncJob's namespace.")


class ConnectSpec(fields.Model):
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
                fields.cel("isURL(self)", "must be a well-formed http:// or https:// URL"),
            ]
        },
    )
    connectors: list[fields.ConnectorName] = Field(
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
    request_timeout: fields.Duration = Field(
        default="10s",
        validate_default=True,
        description="Timeout of each REST request to Kafka Connect (Go duration).",
    )


class WorkloadRef(fields.Model):
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
    name: fields.ObjectName = Field(description="Name of the workload in the SyncJob's namespace.")


class KafkaConnectorRef(fields.Model):
    """A Strimzi KafkaConnector (kafka.strimzi.io/v1beta2) in the SyncJob's namespace."""

    name: fields.ObjectName = Field(description="Name of the KafkaConnector resource.")


class SourceSpec(fields.Model):
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
    retention: fields.Duration | None = Field(
        default=None,
        description=(
            "How long the source keeps change log the job still needs, when the database cannot "
            "tell (Oracle archive logs, a managed service's binlog retention). Where set it "
            "overrides what the database reports."
        ),
    )


class KafkaSpec(fields.Model):
    """The Kafka cluster between source and sink: topic retention, and Connect's offsets topic."""

    bootstrap_servers: str = Field(
        max_length=4096,
        pattern=fields.BOOTSTRAP_PATTERN,
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
    offsets_topic: str = Field(
        default="connect-offsets",
        min_length=1,
        max_length=249,
        pattern=r"^[A-Za-z0-9._-]+$",
        description=(
            "Kafka Connect's offsets topic (the workers' offset.storage.topic; Strimzi's "
            "examples call it connect-cluster-offsets). The stage is read from the source "
            "connectors' records in it wherever Kafka Connect's REST API cannot serve their "
            "offsets: without spec.connect, or with Kafka Connect older than 3.5."
        ),
    )
    source_connectors: list[fields.ConnectorName] = Field(
        default_factory=list,
        max_length=50,
        description=(
            "Names of the job's Debezium source connectors in Kafka Connect, whose committed "
            "offsets tell the stage. By default the source connectors of spec.connect and "
            "spec.kafkaConnectors (Strimzi names a connector after its KafkaConnector); needed "
            "where neither names them, as when the job pauses by spec.workloads alone."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
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
    sink_consumer_groups: list[Annotated[str, Field(min_length=1, max_length=249)]] = Field(
        default_factory=list,
        max_length=20,
        description=(
            "The consumer groups of the job's sinks. How far they have read the topics anchors "
            "the Kafka deadline (the oldest record a sink has not read + retention.ms), and a "
            "committed offset below a partition's log start offset means records were deleted "
            "unread. When empty: connect-<name> for each sink connector of spec.connect (Kafka "
            "Connect's default); set it when a sink sets consumer.override.group.id, or for "
            "sinks paused by spec.workloads or spec.kafkaConnectors."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )


class RetentionPolicy(fields.Model):
    """What the operator does as the retention deadline of a paused job approaches."""

    warn_before: fields.Duration = Field(
        default="6h",
        validate_default=True,
        description="From this long before the deadline: a Warning Event and RetentionAtRisk=True.",
    )
    auto_resume_before: fields.Duration | None = Field(
        default=None,
        description=(
            "If set, the operator resumes a paused job by itself this long before the retention "
            "deadline rather than let events be lost. spec.paused stays as it is in Git; the "
            "status says AutoResumed until spec.paused is set to false (or the spec changes)."
        ),
    )


class CatchUpSpec(fields.Model):
    """When a job that resumed counts as caught up again (the CaughtUp condition)."""

    threshold_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=0,
        le=2**53,
        description=(
            "Caught up once the source's backlog (PostgreSQL: WAL between the server's current "
            "position and the slot's confirmed_flush_lsn) is at most this many bytes. The "
            "default is one WAL segment: an idle server's WAL still moves a little."
        ),
    )
    threshold_records: int = Field(
        default=1000,
        ge=0,
        le=2**53,
        description=(
            "... and the sink connectors' consumer groups are at most this many records behind "
            "the high watermarks of spec.kafka.topics (needs spec.kafka)."
        ),
    )


class AutoRestartSpec(fields.Model):
    """Restart FAILED connectors and tasks through the Kafka Connect REST API."""

    enabled: bool = Field(
        default=False,
        description=(
            "Restart the FAILED connectors and tasks of spec.connect.connectors (POST "
            "/connectors/{name}/restart?includeTasks=true&onlyFailed=true), never while the job "
            "is paused. Strimzi KafkaConnectors are left to their own spec.autoRestart."
        ),
    )
    max_restarts: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Restarts before the job is reported Stalled with the last trace.",
    )
    backoff: fields.Duration = Field(
        default="30s",
        validate_default=True,
        description=(
            "Wait before the second restart; it doubles for each further one, up to maxBackoff. "
            "The first restart is immediate."
        ),
    )
    max_backoff: fields.Duration = Field(
        default="10m", validate_default=True, description="The longest wait between restarts."
    )
    reset_after: fields.Duration = Field(
        default="1h",
        validate_default=True,
        description="Nothing FAILED this long after the last restart: the count starts over.",
    )


class SyncJobSpec(fields.Model):
    """The desired state of one continuous relational-to-MongoDB sync job."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                fields.cel(
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
                fields.cel(
                    "self.type != 'oracle' || has(self.retention)",
                    "oracle retention cannot be read from the database: set spec.source.retention",
                ),
                fields.cel(
                    "self.type == 'oracle' || has(self.connectionSecretRef) || has(self.retention)",
                    "spec.source.connectionSecretRef is required to read the retention from the "
                    "database (or set spec.source.retention)",
                ),
                fields.cel(
                    "self.type != 'postgresql' || !has(self.connectionSecretRef)"
                    " || has(self.slotName)",
                    "spec.source.slotName is required to probe a postgresql replication slot",
                ),
            ]
        },
    )
    kafka: KafkaSpec | None = Field(
        default=None,
        description=(
            "The Kafka cluster, read for the retention of the job's topics and, where Kafka "
            "Connect's REST API cannot tell, for the stage (from Connect's offsets topic)."
        ),
    )
    retention_policy: RetentionPolicy = Field(
        default_factory=RetentionPolicy,
        description="Warnings and automatic resume before the retention deadline.",
        json_schema_extra={
            "x-kubernetes-validations": [
                fields.cel(
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
    catch_up: CatchUpSpec = Field(
        default_factory=CatchUpSpec,
        description="When a resumed job counts as caught up (the CaughtUp condition).",
    )
    auto_restart: AutoRestartSpec = Field(
        default_factory=AutoRestartSpec,
        description="Restart FAILED connectors and tasks (off by default).",
    )
