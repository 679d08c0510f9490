"""Prometheus metrics: jobs by phase and stage, time left to each deadline, errors.

Labels are namespace and name only (bounded by the number of SyncJobs), never
anything from a Secret.  Served by prometheus_client's own HTTP server on
``SYNCJOB_METRICS_PORT``.

The per-job series are not prometheus_client Gauges: a Gauge keeps an object
with its own lock for every label set, ~20 of them a job (every phase and
stage, 0 or 1), 6 KiB a job of live memory at 1,000 jobs, and each pass set
them all.  Instead each job's last figures are one small record, and
:class:`JobSeries` turns the records into samples when Prometheus scrapes.
So the time-based series are right at the scrape, not at the last pass: the
seconds left to a retention deadline, and the lag while behind, count down
and up between passes (a converged job passes every resync interval, 30 s
by default).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import get_args

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from syncjob_operator import units
from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.decide import backlog, catchup
from syncjob_operator.decide.observed import BackendError

# One series per value the API defines, so a job's series exist before it reaches them.
PHASES: tuple[str, ...] = get_args(jobstatus.Phase)
STAGES: tuple[str, ...] = get_args(jobstatus.Stage)

RECONCILE_SECONDS = Histogram(
    "syncjob_reconcile_duration_seconds",
    "Duration of one reconcile pass (observe, decide, act, write)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BACKEND_ERRORS = Counter(
    "syncjob_backend_errors_total", "Errors talking to a backend, by kind", ["backend", "reason"]
)

Key = tuple[str, str]  # namespace, name


@dataclass(frozen=True, slots=True)
class Reported:
    """What the job's last pass reported: its phase, stage and retention deadline."""

    phase: str | None
    stage: str | None
    deadline: datetime | None


@dataclass(frozen=True, slots=True)
class Backlog:
    """The job's latest backlog probe, and whether it is behind its thresholds."""

    backlog_bytes: int | None
    sink_lag: int | None
    last_event_time: datetime | None
    # None: nothing was measured, so nothing says whether the source is
    # writing; an idle source's old last event is no lag (no lag series).
    behind: bool | None


class JobSeries(Collector):
    """Every job's series, built at each scrape from one record per job."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.clock = clock
        self.reported: dict[Key, Reported] = {}
        self.backlogs: dict[Key, Backlog] = {}

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        now = self.clock()
        phase, stage, deadline, backlog_bytes, lag, sink_lag = families = self._families()
        for (namespace, name), r in list(self.reported.items()):
            for value in PHASES:
                phase.add_metric([namespace, name, value], 1 if r.phase == value else 0)
            for value in STAGES:
                stage.add_metric([namespace, name, value], 1 if r.stage == value else 0)
            if r.deadline is not None:
                deadline.add_metric([namespace, name], (r.deadline - now).total_seconds())
        for (namespace, name), b in list(self.backlogs.items()):
            if b.backlog_bytes is not None:
                backlog_bytes.add_metric([namespace, name], b.backlog_bytes)
            if b.sink_lag is not None:
                sink_lag.add_metric([namespace, name], b.sink_lag)
            if b.last_event_time is not None and b.behind is not None:
                seconds = (now - b.last_event_time).total_seconds() if b.behind else 0.0
                lag.add_metric([namespace, name], max(seconds, 0.0))
        return families

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        job = ["namespace", "name"]
        return (
            GaugeMetricFamily(
                "syncjob_phase", "1 for the phase each SyncJob is in", labels=[*job, "phase"]
            ),
            GaugeMetricFamily(
                "syncjob_stage", "1 for the stage each SyncJob is in", labels=[*job, "stage"]
            ),
            GaugeMetricFamily(
                "syncjob_retention_deadline_seconds",
                "Seconds left until a paused SyncJob's retention deadline (negative: passed)",
                labels=job,
            ),
            GaugeMetricFamily(
                "syncjob_backlog_bytes",
                "Source change log the SyncJob has yet to read (PostgreSQL: WAL past "
                "confirmed_flush_lsn)",
                labels=job,
            ),
            GaugeMetricFamily(
                "syncjob_lag_seconds",
                "Seconds since the source time of the last committed change, while the "
                "SyncJob is behind (0 once it has caught up: an idle source is no lag)",
                labels=job,
            ),
            GaugeMetricFamily(
                "syncjob_sink_lag_records",
                "Records the SyncJob's sink connectors are behind the ends of its topics",
                labels=job,
            ),
        )


JOBS = JobSeries()
REGISTRY.register(JOBS)


def record(
    namespace: str,
    name: str,
    status: jobstatus.SyncJobStatus,
    errors: Iterable[BackendError],
) -> None:
    """The pass's phase, stage and deadline, and its backend errors."""
    JOBS.reported[(namespace, name)] = Reported(
        status.phase, status.stage, units.parse_time(status.retention_deadline)
    )
    for error in errors:
        BACKEND_ERRORS.labels(backend=error.backend, reason=error.reason).inc()


def record_backlog(
    namespace: str,
    name: str,
    measure: backlog.Measure | None,
    threshold: jobspec.CatchUpSpec,
) -> None:
    """The latest backlog probe (fresher than status.cdc, which is written on a move only)."""
    key = (namespace, name)
    sample = measure.sample if measure is not None else None
    if sample is None:
        JOBS.backlogs.pop(key, None)
        return
    behind = catchup.behind(sample.backlog_bytes, sample.sink_lag, threshold)
    JOBS.backlogs[key] = Backlog(
        sample.backlog_bytes, sample.sink_lag, sample.last_event_time, behind
    )


def forget(namespace: str, name: str) -> None:
    """A deleted job leaves no series behind."""
    JOBS.reported.pop((namespace, name), None)
    JOBS.backlogs.pop((namespace, name), None)
