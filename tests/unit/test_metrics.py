"""The per-job series: one record a job, turned into samples at the scrape, gone with the job."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY, generate_latest

from syncjob_operator import metrics
from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.decide.backlog import Measure, Sample
from syncjob_operator.decide.observed import BackendError

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
T = jobspec.CatchUpSpec(threshold_bytes=1000, threshold_records=10)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    c = Clock()
    monkeypatch.setattr(metrics.JOBS, "clock", c)
    yield c


def value(metric: str, name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(metric, {"namespace": "ns", "name": name, **labels})


def status(**fields: object) -> jobstatus.SyncJobStatus:
    return jobstatus.SyncJobStatus.model_validate(fields)


def test_behind_the_lag_counts_from_the_last_event_up_to_the_scrape(clock: Clock) -> None:
    sample = Sample(
        at=NOW, backlog_bytes=50_000, sink_lag=70, last_event_time=NOW - timedelta(minutes=3)
    )
    metrics.record_backlog("ns", "behind", Measure(sample), T)
    assert value("syncjob_backlog_bytes", "behind") == 50_000
    assert value("syncjob_sink_lag_records", "behind") == 70
    assert value("syncjob_lag_seconds", "behind") == 180
    clock.now += timedelta(seconds=45)  # no new probe: still behind, and further
    assert value("syncjob_lag_seconds", "behind") == 225


def test_caught_up_the_lag_is_zero_however_old_the_last_event(clock: Clock) -> None:
    sample = Sample(at=NOW, backlog_bytes=10, sink_lag=0, last_event_time=NOW - timedelta(days=2))
    metrics.record_backlog("ns", "idle", Measure(sample), T)
    assert value("syncjob_lag_seconds", "idle") == 0
    clock.now += timedelta(hours=1)
    assert value("syncjob_lag_seconds", "idle") == 0


def test_unmeasured_figures_have_no_series_and_a_deleted_job_none_at_all(clock: Clock) -> None:
    sample = Sample(at=NOW, backlog_bytes=5, last_event_time=NOW)
    metrics.record_backlog("ns", "gone", Measure(sample), T)
    assert value("syncjob_sink_lag_records", "gone") is None
    assert value("syncjob_backlog_bytes", "gone") == 5
    metrics.record_backlog("ns", "gone", Measure(Sample(at=NOW, last_event_time=NOW)), T)
    assert value("syncjob_lag_seconds", "gone") is None  # nothing says it is behind
    metrics.record_backlog("ns", "gone", None, T)
    assert value("syncjob_backlog_bytes", "gone") is None  # no probe, no figure
    metrics.record_backlog("ns", "gone", Measure(sample), T)
    metrics.record("ns", "gone", status(phase="Paused"), [])
    metrics.forget("ns", "gone")
    for metric in ("syncjob_backlog_bytes", "syncjob_lag_seconds", "syncjob_sink_lag_records"):
        assert value(metric, "gone") is None
    assert value("syncjob_phase", "gone", phase="Paused") is None
    assert b'name="gone"' not in generate_latest(REGISTRY)


def test_every_phase_and_stage_has_a_series_one_of_them_1(clock: Clock) -> None:
    metrics.record("ns", "j", status(phase="Paused", stage="CDC"), [])
    phases = {p: value("syncjob_phase", "j", phase=p) for p in metrics.PHASES}
    stages = {s: value("syncjob_stage", "j", stage=s) for s in metrics.STAGES}
    assert phases == {p: (1.0 if p == "Paused" else 0.0) for p in metrics.PHASES}
    assert stages == {s: (1.0 if s == "CDC" else 0.0) for s in metrics.STAGES}
    metrics.record("ns", "j", status(phase="Running", stage="CDC"), [])
    assert value("syncjob_phase", "j", phase="Paused") == 0
    assert value("syncjob_phase", "j", phase="Running") == 1
    metrics.forget("ns", "j")


def test_the_seconds_left_to_a_deadline_count_down_between_passes(clock: Clock) -> None:
    deadline = NOW + timedelta(hours=2)
    metrics.record("ns", "d", status(phase="Paused", retentionDeadline=deadline.isoformat()), [])
    assert value("syncjob_retention_deadline_seconds", "d") == 7200
    clock.now += timedelta(minutes=5)  # no pass since: the scrape still counts down
    assert value("syncjob_retention_deadline_seconds", "d") == 6900
    clock.now = deadline + timedelta(hours=1)
    assert value("syncjob_retention_deadline_seconds", "d") == -3600  # passed: negative
    metrics.record("ns", "d", status(phase="Running"), [])
    assert value("syncjob_retention_deadline_seconds", "d") is None  # no deadline, no series
    metrics.forget("ns", "d")


def test_backend_errors_count_by_kind() -> None:
    before = REGISTRY.get_sample_value(
        "syncjob_backend_errors_total", {"backend": "connect", "reason": "ConnectTimeout"}
    )
    error = BackendError(backend="connect", reason="ConnectTimeout", message="slow", transient=True)
    metrics.record("ns", "e", status(phase="Running"), [error, error])
    after = REGISTRY.get_sample_value(
        "syncjob_backend_errors_total", {"backend": "connect", "reason": "ConnectTimeout"}
    )
    assert (after or 0) - (before or 0) == 2
    metrics.forget("ns", "e")
