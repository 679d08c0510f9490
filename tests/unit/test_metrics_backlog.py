"""The backlog series: set from the latest probe, and gone with the job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from syncjob_operator import metrics
from syncjob_operator.api import jobspec
from syncjob_operator.decide.backlog import Measure, Sample

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
T = jobspec.CatchUpSpec(threshold_bytes=1000, threshold_records=10)


def value(metric: str, name: str) -> float | None:
    return REGISTRY.get_sample_value(metric, {"namespace": "ns", "name": name})


def test_behind_the_lag_counts_from_the_last_event() -> None:
    sample = Sample(
        at=NOW, backlog_bytes=50_000, sink_lag=70, last_event_time=NOW - timedelta(minutes=3)
    )
    metrics.record_backlog("ns", "behind", Measure(sample), T, now=NOW)
    assert value("syncjob_backlog_bytes", "behind") == 50_000
    assert value("syncjob_sink_lag_records", "behind") == 70
    assert value("syncjob_lag_seconds", "behind") == 180


def test_caught_up_the_lag_is_zero_however_old_the_last_event() -> None:
    sample = Sample(at=NOW, backlog_bytes=10, sink_lag=0, last_event_time=NOW - timedelta(days=2))
    metrics.record_backlog("ns", "idle", Measure(sample), T, now=NOW)
    assert value("syncjob_lag_seconds", "idle") == 0


def test_unmeasured_figures_have_no_series_and_a_deleted_job_none_at_all() -> None:
    sample = Sample(at=NOW, backlog_bytes=5, last_event_time=NOW)
    metrics.record_backlog("ns", "gone", Measure(sample), T, now=NOW)
    assert value("syncjob_sink_lag_records", "gone") is None
    assert value("syncjob_backlog_bytes", "gone") == 5
    metrics.record_backlog("ns", "gone", Measure(Sample(at=NOW, last_event_time=NOW)), T, now=NOW)
    assert value("syncjob_lag_seconds", "gone") is None  # nothing says it is behind
    metrics.record_backlog("ns", "gone", Measure(sample), T, now=NOW)
    metrics.forget("ns", "gone")
    for metric in ("syncjob_backlog_bytes", "syncjob_lag_seconds", "syncjob_sink_lag_records"):
        assert value(metric, "gone") is None
