"""The job's stage (Pending, Snapshot or CDC) from Debezium's committed offsets.

Why offsets: they are what Debezium itself resumes from, they survive
restarts, and Kafka Connect keeps them in its offsets topic (and serves them
as ``GET /connectors/{n}/offsets`` from 3.5).  JMX snapshot metrics reset when
a task restarts, so they cannot be trusted alone.  Purely computational; the
rules (docs/design.md, section 3):

- no committed offset yet: Pending (a fresh connector, or one still inside
  ``offset.flush.interval.ms``);
- ``snapshot`` present and not completed: Snapshot (Debezium 3.0.2+ writes
  ``"snapshot": "INITIAL"`` with ``"snapshot_completed": false``; older ones
  ``"snapshot": true``);
- otherwise CDC; an ``INCREMENTAL`` snapshot runs during CDC.

Where the offsets are read (:func:`way`): from Kafka Connect's REST API where
it serves them for every source connector of the job, else from the offsets
topic where ``spec.kafka`` says which Kafka holds it, else nowhere: the stage
is then Unknown and a pause does not wait for it (the README argues why), and
the Paused condition says so (:func:`syncjob_operator.decide.conditions.paused`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.api.jobstatus import Stage
from syncjob_operator.decide.observed import ConnectorState, Observed

# Where a job's offsets are read from: Kafka Connect's REST API, or its offsets topic.
Way = Literal["connect", "topic"]


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def offset_stage(offset: Mapping[str, Any]) -> Stage:
    """The stage one committed source offset says the connector is in."""
    if _truthy(offset.get("snapshot_completed")):
        return "CDC"
    snapshot = offset.get("snapshot")
    if snapshot is None or snapshot is False:
        return "CDC"
    if isinstance(snapshot, str):
        kind = snapshot.strip().upper()
        if kind in ("", "FALSE", "INCREMENTAL"):
            return "CDC"
    # Older Debezium marks the final snapshot record; once that offset is
    # committed the snapshot is over and streaming starts from it.
    if _truthy(offset.get("last_snapshot_record")):
        return "CDC"
    return "Snapshot"


def connector_stage(offsets: Iterable[Mapping[str, Any]]) -> Stage:
    """A connector's stage over all its partitions: any snapshotting wins."""
    stages = [offset_stage(o) for o in offsets]
    if not stages:
        return "Pending"
    return "Snapshot" if "Snapshot" in stages else "CDC"


def job_stage(connectors: Iterable[ConnectorState]) -> Stage:
    """The job's stage over its source connectors.

    Snapshot while any source snapshots; Pending while any has no offset and
    none snapshots; CDC when every source streams.  Unknown when no source
    connector's offsets were read (no Connect backend, or it could not be
    reached): the caller says why.
    """
    sources = [c for c in connectors if c.type != "sink" and c.offsets is not None]
    if not sources:
        return "Unknown"
    stages = [connector_stage(c.offsets or ()) for c in sources]
    if "Snapshot" in stages:
        return "Snapshot"
    if "Pending" in stages:
        return "Pending"
    return "CDC"


def source_names(
    spec: jobspec.SyncJobSpec,
    seen: Iterable[ConnectorState],
    known_types: Mapping[str, str] | None = None,
) -> tuple[str, ...]:
    """The job's source connectors, whose offsets tell the stage.

    ``spec.kafka.sourceConnectors`` where given; otherwise the connectors of
    ``spec.connect`` and ``spec.kafkaConnectors`` (Strimzi names the connector
    after its KafkaConnector) that are not sinks as far as ``seen`` (or the
    types ``known`` from earlier passes) tells: a sink's position is a
    consumer group's, it has no source offsets.
    """
    if spec.kafka is not None and spec.kafka.source_connectors:
        return tuple(spec.kafka.source_connectors)
    types = {**(known_types or {}), **{c.name: c.type for c in seen if c.type}}
    named = [
        *(spec.connect.connectors if spec.connect is not None else ()),
        *(ref.name for ref in spec.kafka_connectors),
    ]
    return tuple(dict.fromkeys(n for n in named if types.get(n) != "sink"))


def way(
    spec: jobspec.SyncJobSpec,
    seen: Iterable[ConnectorState],
    *,
    connect_serves_offsets: bool,
    known_types: Mapping[str, str] | None = None,
) -> Way | None:
    """Where this job's stage can be read from; None: nowhere.

    Kafka Connect's REST API where it serves offsets (3.5+) and the job's
    source connectors are all its own; else the offsets topic, where
    ``spec.kafka`` gives the cluster and some source connector is known.
    """
    names = source_names(spec, seen, known_types)
    if not names:
        return None
    if (
        spec.connect is not None
        and connect_serves_offsets
        and set(names) <= set(spec.connect.connectors)
    ):
        return "connect"
    return "topic" if spec.kafka is not None else None


@dataclass(frozen=True)
class Reading:
    """The stage to report, and what the conditions say about it.

    ``unknown``: why the stage cannot be read at all (it is then Unknown, and
    a pause does not wait for it).  ``unread``: the reason and message of a
    read that failed this pass.  ``detail``: which connectors hold the stage
    back, for the message of a pause that waits.
    """

    stage: Stage
    unknown: str | None = None
    unread: tuple[str, str] | None = None
    detail: str = ""

    @property
    def readable(self) -> bool:
        return self.unknown is None


def topic_stage(
    offsets: Mapping[str, Sequence[Mapping[str, Any]]], names: Iterable[str]
) -> tuple[Stage, str]:
    """The job's stage from the offsets topic's last record per key, and what holds it back.

    ``offsets`` maps a connector name to its offsets (one per source
    partition); a connector with no record is Pending.  Unknown when there
    is no connector to look at.
    """
    stages = {n: connector_stage(offsets.get(n, ())) for n in names}
    if not stages:
        return "Unknown", ""
    for held in ("Snapshot", "Pending"):
        behind = [n for n, s in stages.items() if s == held]
        if behind:
            return held, _behind(held, behind)
    return "CDC", ""


def _behind(held: Stage, names: Sequence[str]) -> str:
    which = f"connector{'s' if len(names) > 1 else ''} {', '.join(names)}"
    if held == "Snapshot":
        return f"{which} still in the initial snapshot"
    return f"no committed offset of {which} yet"


def reported(
    spec: jobspec.SyncJobSpec, observed: Observed, previous: jobstatus.SyncJobStatus
) -> Reading:
    """The stage to report: what the offsets say, else the last one seen.

    With no way to read the offsets (:func:`way`) the stage is Unknown, and
    ``unknown`` says why and what to set.  When they could not be read this
    pass (Connect or Kafka unreachable, the workers scaled to zero by this
    pause, not asked this pass), the stage is the last one reported; the
    conditions say why.
    """
    seen = (*observed.connectors, *observed.kafka_connectors)
    known = observed.connector_types
    how = way(
        spec, seen, connect_serves_offsets=not observed.connect_without_offsets, known_types=known
    )
    if how is None:
        return Reading("Unknown", unknown=_nowhere(spec, observed))
    detail = ""
    if how == "connect":
        found = job_stage(observed.connectors)
        if found in ("Snapshot", "Pending"):
            read = {c.name: c.offsets or () for c in observed.connectors if c.offsets is not None}
            names = [n for n in source_names(spec, seen, known) if n in read]
            detail = topic_stage(read, names)[1]
    elif observed.topic_offsets is None:
        found = "Unknown"
    else:
        found, detail = topic_stage(observed.topic_offsets, source_names(spec, seen, known))
        if detail and spec.kafka is not None:
            detail += f" (topic {spec.kafka.offsets_topic})"
    if found != "Unknown":
        return Reading(found, detail=detail)
    failed = observed.stage_errors[0] if observed.stage_errors else None
    unread = (failed.reason, f"the stage could not be read: {failed.message}") if failed else None
    return Reading(previous.stage or "Unknown", unread=unread, detail=unread[1] if unread else "")


def _nowhere(spec: jobspec.SyncJobSpec, observed: Observed) -> str:
    """Why no stage can be read, and what to set so that it can."""
    names = source_names(
        spec, (*observed.connectors, *observed.kafka_connectors), observed.connector_types
    )
    if not names and spec.kafka is not None:
        why = "no source connector of the job is known: name them in spec.kafka.sourceConnectors"
    elif not names:
        why = (
            "no source connector of the job is known: set spec.kafka with "
            "spec.kafka.sourceConnectors, so that their offsets are read from Kafka Connect's "
            "offsets topic"
        )
    elif spec.connect is not None and observed.connect_without_offsets:
        why = (
            f"Kafka Connect at {spec.connect.url} serves no offsets (it is older than 3.5): "
            "set spec.kafka so that they are read from its offsets topic"
        )
    else:
        why = (
            f"nothing here serves the offsets of {', '.join(names)}: set spec.kafka so that "
            "they are read from Kafka Connect's offsets topic"
        )
    return f"the stage is not known, so a pause does not wait for the CDC stage: {why}"
