"""The job's stage (Pending, Snapshot or CDC) from Debezium's committed offsets.

Why offsets: they are what Debezium itself resumes from, they survive
restarts, and Kafka Connect serves them (``GET /connectors/{n}/offsets``, 3.5+).
JMX snapshot metrics reset when a task restarts, so they cannot be trusted
alone.  Purely computational; the rules (docs/design.md):

- no committed offset yet: Pending (a fresh connector, or one still inside
  ``offset.flush.interval.ms``);
- ``snapshot`` present and not completed: Snapshot (Debezium 3.0.2+ writes
  ``"snapshot": "INITIAL"`` with ``"snapshot_completed": false``; older ones
  ``"snapshot": true``);
- otherwise CDC; an ``INCREMENTAL`` snapshot runs during CDC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.api.jobstatus import Stage
from syncjob_operator.decide.observed import ConnectorState, Observed


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


def reported(
    spec: jobspec.SyncJobSpec, observed: Observed, previous: jobstatus.SyncJobStatus
) -> Stage:
    """The stage to report: what the offsets say, else the last one seen.

    Without Kafka Connect in the spec no offsets can tell: Unknown.  When
    Connect could not be read (or its workers are scaled to zero by this
    pause), the stage is the last one reported; the conditions say why.
    """
    if spec.connect is None:
        return "Unknown"
    seen = job_stage(observed.connectors)
    if seen == "Unknown" and previous.stage is not None:
        return previous.stage
    return seen
