"""Prometheus metrics: jobs by phase and stage, time left to each deadline, errors.

Labels are namespace and name only (bounded by the number of SyncJobs), never
anything from a Secret.  Served by prometheus_client's own HTTP server on
``SYNCJOB_METRICS_PORT``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime
from typing import get_args

from prometheus_client import Counter, Gauge, Histogram

from syncjob_operator import units
from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.decide import backlog, catchup
from syncjob_operator.decide.observed import BackendError

# One series per value the API defines, so a job's series exist before it reaches them.
PHASES: tuple[str, ...] = get_args(jobstatus.Phase)
STAGES: tuple[str, ...] = get_args(jobstatus.Stage)

JOB_PHASE = Gauge(
    "syncjob_phase", "1 for the phase each SyncJob is in", ["namespace", "name", "phase"]
)
JOB_STAGE = Gauge(
    "syncjob_stage", "1 for the stage each SyncJob is in", ["namespace", "name", "stage"]
)
RETENTION_SECONDS_LEFT = Gauge(
    "syncjob_retention_deadline_seconds",
    "Seconds left until a paused SyncJob's retention deadline (negative: passed)",
    ["namespace", "name"],
)
RECONCILE_SECONDS = Histogram(
    "syncjob_reconcile_duration_seconds",
    "Duration of one reconcile pass (observe, decide, act, write)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BACKEND_ERRORS = Counter(
    "syncjob_backend_errors_total", "Errors talking to a backend, by kind", ["backend", "reason"]
)
BACKLOG_BYTES = Gauge(
    "syncjob_backlog_bytes",
    "Source change log the SyncJob has yet to read (PostgreSQL: WAL past confirmed_flush_lsn)",
    ["namespace", "name"],
)
LAG_SECONDS = Gauge(
    "syncjob_lag_seconds",
    "Seconds since the source time of the last committed change, while the SyncJob is behind "
    "(0 once it has caught up: an idle source is no lag)",
    ["namespace", "name"],
)
SINK_LAG_RECORDS = Gauge(
    "syncjob_sink_lag_records",
    "Records the SyncJob's sink connectors are behind the ends of its topics",
    ["namespace", "name"],
)
_BACKLOG_GAUGES = (BACKLOG_BYTES, LAG_SECONDS, SINK_LAG_RECORDS)


def record(
    namespace: str,
    name: str,
    status: jobstatus.SyncJobStatus,
    errors: Iterable[BackendError],
    *,
    now: datetime,
) -> None:
    for phase in PHASES:
        JOB_PHASE.labels(namespace, name, phase).set(1 if status.phase == phase else 0)
    for stage in STAGES:
        JOB_STAGE.labels(namespace, name, stage).set(1 if status.stage == stage else 0)
    deadline = units.parse_time(status.retention_deadline)
    if deadline is not None:
        RETENTION_SECONDS_LEFT.labels(namespace, name).set((deadline - now).total_seconds())
    else:
        _remove(RETENTION_SECONDS_LEFT, namespace, name)
    for error in errors:
        BACKEND_ERRORS.labels(backend=error.backend, reason=error.reason).inc()


def record_backlog(
    namespace: str,
    name: str,
    measure: backlog.Measure | None,
    threshold: jobspec.CatchUpSpec,
    *,
    now: datetime,
) -> None:
    """The latest backlog probe (fresher than status.cdc, which is written on a move only)."""
    sample = measure.sample if measure is not None else None
    figures = (
        (BACKLOG_BYTES, sample.backlog_bytes if sample else None),
        (SINK_LAG_RECORDS, sample.sink_lag if sample else None),
    )
    for gauge, value in figures:
        if value is None:
            _remove(gauge, namespace, name)
        else:
            gauge.labels(namespace, name).set(value)
    if sample is None or sample.last_event_time is None:
        _remove(LAG_SECONDS, namespace, name)
        return
    behind = catchup.behind(sample.backlog_bytes, sample.sink_lag, threshold)
    if behind is None:
        # Nothing tells whether the source is writing: an idle source's old
        # last event is no lag, so no figure rather than a false alarm.
        _remove(LAG_SECONDS, namespace, name)
        return
    lag = (now - sample.last_event_time).total_seconds() if behind else 0.0
    LAG_SECONDS.labels(namespace, name).set(max(lag, 0.0))


def forget(namespace: str, name: str) -> None:
    """A deleted job leaves no series behind."""
    for gauge in _BACKLOG_GAUGES:
        _remove(gauge, namespace, name)
    for phase in PHASES:
        _remove(JOB_PHASE, namespace, name, phase)
    for stage in STAGES:
        _remove(JOB_STAGE, namespace, name, stage)
    _remove(RETENTION_SECONDS_LEFT, namespace, name)


def _remove(gauge: Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        gauge.remove(*labels)
