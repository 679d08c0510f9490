"""What status mirrors: the connectors and workloads as observed, the retention figures.

Why this exists: status is read by people (``kubectl get``, the CLI) and by
the next pass (saved replica counts, the deadline written last), so what is
copied into it, shortened or kept from the previous status is decided in one
place.  Pure functions of the observation, the actions and the previous status.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from syncjob_operator import units
from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.decide import retention
from syncjob_operator.decide.observed import ConnectorState, Observed, WorkloadState
from syncjob_operator.decide.plan import Action, ClearSavedReplicasAction, ScaleAction

# A Java stack trace runs to kilobytes; status keeps its first lines, bounded.
TRACE_CHARS = 400


def short_trace(trace: str | None) -> str | None:
    """The first three non-blank lines of a Connect trace, on one line, at most TRACE_CHARS."""
    if not trace:
        return None
    lines = [ln for ln in trace.strip().splitlines() if ln.strip()][:3]
    text = " | ".join(ln.strip() for ln in lines)
    return text[:TRACE_CHARS]


def connector_status(c: ConnectorState) -> jobstatus.ConnectorStatus:
    return jobstatus.ConnectorStatus(
        name=c.name,
        state=c.state,
        type=c.type,
        worker_id=c.worker_id,
        trace=short_trace(c.trace),
        tasks=[
            jobstatus.TaskStatus(
                id=t.id, state=t.state, worker_id=t.worker_id, trace=short_trace(t.trace)
            )
            for t in c.tasks
        ],
    )


def connectors_status(
    spec: jobspec.SyncJobSpec, observed: Observed, previous: jobstatus.SyncJobStatus
) -> list[jobstatus.ConnectorStatus]:
    """The Connect connectors; while the workers are at zero, the last ones seen, without tasks."""
    if spec.connect is None:
        return []
    if observed.connect_skipped:
        return [c.model_copy(update={"tasks": []}) for c in previous.connectors]
    return [connector_status(c) for c in observed.connectors]


def saved_replicas(w: WorkloadState, previous: jobstatus.SyncJobStatus) -> int | None:
    """The count to restore: the workload's annotation, else what status recorded."""
    if w.saved_replicas is not None:
        return w.saved_replicas
    for s in previous.workloads:
        if s.kind == w.ref.kind and s.name == w.ref.name:
            return s.saved_replicas
    return None


def workloads_status(
    observed: Observed, previous: jobstatus.SyncJobStatus, actions: Sequence[Action]
) -> list[jobstatus.WorkloadStatus]:
    """The workloads, with the count to restore as this pass's actions leave it."""
    cleared = {(a.ref.kind, a.ref.name) for a in actions if isinstance(a, ClearSavedReplicasAction)}
    saving = {
        (a.ref.kind, a.ref.name): a.save
        for a in actions
        if isinstance(a, ScaleAction) and a.save is not None
    }
    out = []
    for w in observed.workloads:
        key = (w.ref.kind, w.ref.name)
        saved = None if key in cleared else saving.get(key, saved_replicas(w, previous))
        out.append(
            jobstatus.WorkloadStatus(
                api_version=w.ref.api_version,
                kind=w.ref.kind,
                name=w.ref.name,
                replicas=w.replicas,
                ready_replicas=w.ready_replicas,
                saved_replicas=saved,
                message=None if w.found else "not found",
            )
        )
    return out


def with_retention(
    report: jobstatus.SyncJobStatus,
    *,
    bound: retention.RetentionBound | None,
    lost: bool,
    previous: jobstatus.SyncJobStatus,
    now: datetime,
) -> tuple[jobstatus.SyncJobStatus, datetime | None]:
    """``report`` with a paused job's retention figures, and the deadline it now shows.

    ``bound`` None (not paused, or not probed): no deadline.  A WAL-rate
    deadline wobbles with every probe: the written one (and its figures) is
    kept until the new one moves meaningfully, so status is not rewritten for
    noise.
    """
    previous_deadline = units.parse_time(previous.retention_deadline)
    if bound is None:
        return report, None
    deadline = bound.deadline
    if (
        previous.retention is not None
        and previous.retention.basis == bound.basis
        and previous.retention.lost == lost
        and previous_deadline is not None
        and deadline is not None
        and not retention.deadline_moved(previous_deadline, deadline, now=now)
    ):
        kept = {"retention_deadline": previous.retention_deadline, "retention": previous.retention}
        return report.model_copy(update=kept), previous_deadline
    figures = bound.figures
    written = jobstatus.RetentionStatus(
        basis=bound.basis,
        message=bound.message,
        retained_bytes=_int(figures.get("retainedBytes")),
        safe_bytes=_int(figures.get("safeBytes")),
        wal_bytes_per_second=_float(figures.get("walBytesPerSecond")),
        wal_sample_lsn=_str(figures.get("walSampleLsn")),
        wal_sampled_at=_str(figures.get("walSampledAt")),
        expire_seconds=_int(figures.get("expireSeconds")),
        anchor=_str(figures.get("anchor")),
        position_time=_str(figures.get("positionTime")),
        lost=lost,
    )
    update = {
        "retention_deadline": units.rfc3339(deadline) if deadline else None,
        "retention": written,
    }
    return report.model_copy(update=update), deadline


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
