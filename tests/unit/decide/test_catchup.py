"""The catch-up after a resume: status.cdc, the CaughtUp condition, its Event, no churn."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from syncjob_operator import units
from syncjob_operator.api import jobspec, jobstatus, v1alpha1
from syncjob_operator.decide import backlog, catchup, conditions, reconcile
from syncjob_operator.decide.backlog import Measure, Sample
from syncjob_operator.decide.plan import Pace
from tests.helpers.decide_builders import NOW, before, ctx, job, seen, sink, src

T = jobspec.CatchUpSpec(threshold_bytes=1000, threshold_records=10)
MIB = 1024 * 1024


def sample(at: datetime = NOW, **kw: Any) -> Sample:
    return Sample(at=at, **kw)


def cdc(**kw: Any) -> jobstatus.CdcStatus:
    kw.setdefault("measured_at", units.rfc3339(NOW - timedelta(minutes=1)))
    return jobstatus.CdcStatus(**kw)


# --- offsets ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offsets", "expected"),
    [
        # PostgreSQL (tests/env/README-pipeline.md): ts_usec
        ([{"lsn": 6528392, "txId": 731, "ts_usec": 1795491103991274}], 1795491103.991274),
        # MariaDB / MySQL: ts_sec
        ([{"ts_sec": 1796174346, "file": "binlog.000001", "pos": 25308}], 1796174346.0),
        # SQL Server: ts_ms
        ([{"commit_lsn": "00000027:00000758:0003", "ts_ms": 1796174346123}], 1796174346.123),
        # the newest of several source connectors
        ([{"ts_sec": 100}, {"ts_sec": 300}, {"ts_sec": 200}], 300.0),
        ([{"lsn": 5}], None),
        ([], None),
        ([{"ts_sec": True}], None),
    ],
)
def test_event_time_from_debezium_offsets(offsets: Any, expected: float | None) -> None:
    got = backlog.event_time(offsets)
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert abs(got.timestamp() - expected) < 1e-3


# --- drain rate and estimate ---------------------------------------------------


def test_drain_rates_between_oldest_and_newest() -> None:
    samples = [
        sample(NOW - timedelta(seconds=10), backlog_bytes=10_000, sink_lag=500),
        sample(NOW - timedelta(seconds=5), backlog_bytes=7_000, sink_lag=400),
        sample(NOW, backlog_bytes=5_000, sink_lag=300),
    ]
    assert backlog.drain_rates(samples) == (500.0, 20.0)


def test_drain_rates_from_the_plateau_s_end_and_the_rise_s_foot() -> None:
    samples = [
        # probed while paused: the source backlog stands still, the sink has read all
        sample(NOW - timedelta(seconds=20), backlog_bytes=9_000, sink_lag=0),
        sample(NOW - timedelta(seconds=15), backlog_bytes=9_000, sink_lag=0),
        # resumed: the source drains, the sink lag grows first, then falls
        sample(NOW - timedelta(seconds=10), backlog_bytes=4_000, sink_lag=600),
        sample(NOW - timedelta(seconds=5), backlog_bytes=2_000, sink_lag=400),
        sample(NOW, backlog_bytes=1_000, sink_lag=300),
    ]
    # the source: from the plateau's last sample; the sink: 300 drained since
    # the rise began 15 s ago (not 300 in the 10 s since the peak)
    assert backlog.drain_rates(samples) == (8_000 / 15, 20.0)


def test_drain_rate_after_a_dip_counts_from_the_lowest_point_before_the_peak() -> None:
    samples = [
        sample(NOW - timedelta(seconds=30), sink_lag=100),
        sample(NOW - timedelta(seconds=20), sink_lag=50),
        sample(NOW - timedelta(seconds=10), sink_lag=400),
        sample(NOW, sink_lag=200),
    ]
    assert backlog.drain_rates(samples) == (None, 10.0)


def test_drain_rates_skip_a_figure_a_probe_missed() -> None:
    samples = [
        sample(NOW - timedelta(seconds=10), backlog_bytes=10_000),
        sample(NOW - timedelta(seconds=5), sink_lag=400),
        sample(NOW, backlog_bytes=5_000),
    ]
    assert backlog.drain_rates(samples) == (500.0, None)


@pytest.mark.parametrize(
    "samples",
    [
        [],
        [sample(backlog_bytes=5)],
        # growing: no drain
        [sample(NOW - timedelta(seconds=5), backlog_bytes=5), sample(backlog_bytes=9)],
        # same instant
        [sample(backlog_bytes=9), sample(backlog_bytes=5)],
    ],
)
def test_no_drain_rate(samples: list[Sample]) -> None:
    assert backlog.drain_rates(samples) == (None, None)


@pytest.mark.parametrize(
    ("measure", "expected"),
    [
        (Measure(sample(backlog_bytes=10_000), bytes_per_second=1000.0), 10),
        # the slower measure decides
        (
            Measure(sample(backlog_bytes=10_000, sink_lag=1000), 1000.0, records_per_second=10.0),
            100,
        ),
        # under the threshold: nothing left
        (Measure(sample(backlog_bytes=500, sink_lag=5)), 0),
        # above the threshold, not draining: no estimate
        (Measure(sample(backlog_bytes=10_000)), None),
        (Measure(sample(backlog_bytes=10_000, sink_lag=50), 1000.0), None),
    ],
)
def test_estimate(measure: Measure, expected: int | None) -> None:
    assert catchup.estimate(measure, T) == expected


# --- status.cdc -----------------------------------------------------------------


def test_a_job_without_backlog_probes_has_no_cdc_status() -> None:
    got = catchup.cdc_status(
        previous=None, measure=None, threshold=T, prev_phase="Resuming", phase="Running", now=NOW
    )
    assert got is None


def test_a_resume_begins_a_catch_up_with_the_figures() -> None:
    m = Measure(sample(backlog_bytes=50_000, last_event_time=NOW - timedelta(minutes=30)), 1000.0)
    got = catchup.cdc_status(
        previous=None, measure=m, threshold=T, prev_phase="Resuming", phase="Running", now=NOW
    )
    # The probe of this very pass may predate the resume: no estimate from it.
    assert got == jobstatus.CdcStatus(
        last_event_time=units.rfc3339(NOW - timedelta(minutes=30)),
        backlog_bytes=50_000,
        estimated_catch_up_seconds=None,
        catching_up_since=units.rfc3339(NOW),
        measured_at=units.rfc3339(NOW),
    )
    later = NOW + timedelta(seconds=20)
    m = Measure(sample(later, backlog_bytes=40_000), 1000.0)
    got = catchup.cdc_status(
        previous=got, measure=m, threshold=T, prev_phase="Running", phase="Running", now=later
    )
    assert got is not None and got.estimated_catch_up_seconds == 40


@pytest.mark.parametrize("prev_phase", ["Paused", "Pausing", "Resuming"])
def test_every_way_out_of_a_pause_begins_a_catch_up(prev_phase: Any) -> None:
    m = Measure(sample(backlog_bytes=50_000))
    got = catchup.cdc_status(
        previous=None, measure=m, threshold=T, prev_phase=prev_phase, phase="Running", now=NOW
    )
    assert got is not None and got.catching_up_since == units.rfc3339(NOW)


def test_running_steadily_is_no_catch_up() -> None:
    m = Measure(sample(backlog_bytes=50_000))
    got = catchup.cdc_status(
        previous=None, measure=m, threshold=T, prev_phase="Running", phase="Running", now=NOW
    )
    assert got is not None and got.catching_up_since is None


def test_under_the_threshold_the_catch_up_ends() -> None:
    since = units.rfc3339(NOW - timedelta(minutes=5))
    prev = cdc(backlog_bytes=50_000, catching_up_since=since)
    m = Measure(sample(backlog_bytes=900, sink_lag=3))
    got = catchup.cdc_status(
        previous=prev, measure=m, threshold=T, prev_phase="Running", phase="Running", now=NOW
    )
    assert got is not None
    assert got.catching_up_since is None
    assert got.estimated_catch_up_seconds is None
    assert got.backlog_bytes == 900


def test_a_new_pause_ends_the_catch_up() -> None:
    prev = cdc(backlog_bytes=50_000, catching_up_since=units.rfc3339(NOW))
    got = catchup.cdc_status(
        previous=prev, measure=None, threshold=T, prev_phase="Running", phase="Pausing", now=NOW
    )
    assert got is not None and got.catching_up_since is None
    assert got.backlog_bytes == 50_000


def test_a_failed_probe_keeps_the_figures_written() -> None:
    prev = cdc(backlog_bytes=50_000, catching_up_since=units.rfc3339(NOW))
    got = catchup.cdc_status(
        previous=prev,
        measure=Measure(sample()),
        threshold=T,
        prev_phase="Running",
        phase="Running",
        now=NOW,
    )
    assert got is prev


# --- no churn -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "ago", "expected"),
    [
        # within MIN_REWRITE nothing but a flip is written
        (cdc(backlog_bytes=50_000), cdc(backlog_bytes=10_000), 5, False),
        # a flip (under the threshold) is written at once
        (cdc(backlog_bytes=50_000), cdc(backlog_bytes=10), 5, True),
        (
            cdc(backlog_bytes=50_000, catching_up_since="2026-11-24T11:00:00Z"),
            cdc(backlog_bytes=50_000),
            5,
            True,
        ),
        # a big move after MIN_REWRITE
        (cdc(backlog_bytes=50_000), cdc(backlog_bytes=30_000), 20, True),
        # a small one is noise
        (cdc(backlog_bytes=50_000), cdc(backlog_bytes=48_000), 20, False),
        (cdc(sink_lag=5_000), cdc(sink_lag=4_900), 20, False),
        # the estimate: seconds of noise are not written
        (
            cdc(backlog_bytes=50_000, estimated_catch_up_seconds=600),
            cdc(backlog_bytes=50_000, estimated_catch_up_seconds=590),
            20,
            False,
        ),
        (
            cdc(backlog_bytes=50_000, estimated_catch_up_seconds=600),
            cdc(backlog_bytes=50_000, estimated_catch_up_seconds=300),
            20,
            True,
        ),
        # the last event time: a minute at most
        (
            cdc(backlog_bytes=0, last_event_time="2026-11-24T11:59:00Z"),
            cdc(backlog_bytes=0, last_event_time="2026-11-24T11:59:30Z"),
            20,
            False,
        ),
        (
            cdc(backlog_bytes=0, last_event_time="2026-11-24T11:58:00Z"),
            cdc(backlog_bytes=0, last_event_time="2026-11-24T11:59:30Z"),
            20,
            True,
        ),
        # after REFRESH any difference is written
        (cdc(backlog_bytes=500), cdc(backlog_bytes=501), 400, True),
        (cdc(backlog_bytes=500), cdc(backlog_bytes=500), 400, False),
    ],
)
def test_moved(
    old: jobstatus.CdcStatus, new: jobstatus.CdcStatus, ago: int, expected: bool
) -> None:
    old = old.model_copy(update={"measured_at": units.rfc3339(NOW - timedelta(seconds=ago))})
    new = new.model_copy(update={"measured_at": units.rfc3339(NOW)})
    assert catchup.moved(old, new, T, now=NOW) is expected


def test_writes_per_minute_are_bounded_during_a_catch_up() -> None:
    """A probe every second of a steadily draining backlog: a handful of writes a minute."""
    previous: jobstatus.CdcStatus | None = None
    writes = 0
    samples: list[Sample] = []
    start = NOW
    for second in range(120):
        now = start + timedelta(seconds=second)
        samples = [*samples[-10:], sample(now, backlog_bytes=10 * MIB - second * 80_000)]
        rates = backlog.drain_rates(samples)
        m = Measure(samples[-1], *rates)
        got = catchup.cdc_status(
            previous=previous,
            measure=m,
            threshold=jobspec.CatchUpSpec(),
            prev_phase="Resuming" if second == 0 else "Running",
            phase="Running",
            now=now,
        )
        if got != previous:
            writes += 1
        previous = got
    assert writes <= 2 * 60 // int(catchup.MIN_REWRITE.total_seconds()) + 2


# --- the condition and the Event -------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, None),
        (
            cdc(backlog_bytes=50_000, estimated_catch_up_seconds=90, catching_up_since="x"),
            ("False", "CatchingUp"),
        ),
        (cdc(backlog_bytes=50_000), ("False", "Behind")),
        (cdc(backlog_bytes=50, sink_lag=2), ("True", "CaughtUp")),
        (cdc(), ("Unknown", "NotMeasured")),
    ],
)
def test_caught_up_condition(status: jobstatus.CdcStatus | None, expected: Any) -> None:
    got = catchup.caught_up(status, T)
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert (got.type, got.status, got.reason) == (conditions.CAUGHT_UP, *expected)


def test_catching_up_message_has_backlog_and_estimate() -> None:
    got = catchup.caught_up(
        cdc(
            backlog_bytes=3 * MIB, sink_lag=40, estimated_catch_up_seconds=90, catching_up_since="x"
        ),
        T,
    )
    assert got is not None
    assert "3.0 MiB" in got.message and "40 records" in got.message
    assert "about 1m left" in got.message


def test_the_event_says_how_long_the_catch_up_took() -> None:
    prev = cdc(catching_up_since=units.rfc3339(NOW - timedelta(minutes=2)))
    new = cdc(backlog_bytes=10, measured_at=units.rfc3339(NOW))
    (event,) = catchup.events(prev, new, phase="Running")
    assert (event.type, event.reason) == ("Normal", "CaughtUp")
    assert "2m" in event.message


def test_no_event_when_a_pause_ends_the_catch_up() -> None:
    prev = cdc(catching_up_since=units.rfc3339(NOW - timedelta(minutes=2)))
    assert catchup.events(prev, cdc(), phase="Pausing") == []


# --- through decide() -----------------------------------------------------------


def measure(backlog_bytes: int, at: datetime = NOW) -> Measure:
    return Measure(Sample(at=at, backlog_bytes=backlog_bytes), bytes_per_second=1 * MIB)


def test_decide_resume_then_caught_up() -> None:
    spec = job()
    running = seen(src("RUNNING"), sink("RUNNING"))
    first = reconcile.decide(spec, running, ctx(before("Resuming"), backlog=measure(100 * MIB)))
    assert first.status.phase == "Running"
    cond = conditions.find(first.status.conditions, conditions.CAUGHT_UP)
    assert cond is not None and (cond.status, cond.reason) == ("False", "CatchingUp")
    assert "no estimate yet" in cond.message
    # Catching up is information: the job is Ready, not Reconciling (docs/design.md's kstatus).
    assert conditions.is_true(first.status.conditions, conditions.READY)
    assert not conditions.is_true(first.status.conditions, conditions.RECONCILING)
    assert first.pace is Pace.WAITING

    soon = NOW + timedelta(seconds=20)
    middle = reconcile.decide(
        spec, running, ctx(first.status, now=soon, backlog=measure(80 * MIB, at=soon))
    )
    cond = conditions.find(middle.status.conditions, conditions.CAUGHT_UP)
    assert cond is not None and "about 1m left" in cond.message
    later = NOW + timedelta(minutes=2)
    second = reconcile.decide(
        spec, running, ctx(middle.status, now=later, backlog=measure(1000, at=later))
    )
    cond = conditions.find(second.status.conditions, conditions.CAUGHT_UP)
    assert cond is not None and (cond.status, cond.reason) == ("True", "CaughtUp")
    assert [e.reason for e in second.events] == ["CaughtUp"]
    assert second.pace is Pace.STEADY


def test_decide_without_backlog_probes_writes_no_cdc() -> None:
    plan = reconcile.decide(job(), seen(src("RUNNING"), sink("RUNNING")), ctx(before("Resuming")))
    assert plan.status.cdc is None
    assert conditions.find(plan.status.conditions, conditions.CAUGHT_UP) is None


def test_catch_up_threshold_spec_defaults() -> None:
    spec = v1alpha1.parse_spec({"connect": {"url": "http://c:8083", "connectors": ["a"]}})
    assert spec.catch_up.threshold_bytes == 16 * MIB
    assert spec.catch_up.threshold_records == 1000
    spec = v1alpha1.parse_spec(
        {
            "connect": {"url": "http://c:8083", "connectors": ["a"]},
            "catchUp": {"thresholdBytes": 0, "thresholdRecords": 5},
        }
    )
    assert (spec.catch_up.threshold_bytes, spec.catch_up.threshold_records) == (0, 5)


# --- MySQL/MariaDB: binlog bytes past the offsets --------------------------------

LOGS = [("binlog.000001", 1000), ("binlog.000002", 5000), ("binlog.000003", 300)]


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        (("binlog.000003", 300), 0),
        (("binlog.000003", 100), 200),
        (("binlog.000002", 4000), 1000 + 300),
        (("binlog.000001", 4), 996 + 5000 + 300),
        # purged: no backlog to count (the retention bound reports the loss)
        (("binlog.000000", 4), None),
        # a position past the file's end (rotated and re-read): never negative
        (("binlog.000003", 900), 0),
    ],
)
def test_binlog_backlog(position: tuple[str, int], expected: int | None) -> None:
    assert backlog.binlog_backlog(LOGS, position) == expected


def test_binlog_position_is_the_furthest_behind() -> None:
    offsets = [
        {"ts_sec": 1, "file": "binlog.000002", "pos": 10},
        {"ts_sec": 2, "file": "binlog.000001", "pos": 900},
        {"lsn": 5},
    ]
    assert backlog.binlog_position(offsets) == ("binlog.000001", 900)
    assert backlog.binlog_position([{"lsn": 5}]) is None


def test_a_sample_from_before_the_resume_does_not_end_the_catch_up() -> None:
    """The pass that finds the job Running may still hold the probe made while it was paused."""
    stale = Measure(sample(NOW - timedelta(seconds=3), backlog_bytes=0, sink_lag=0))
    got = catchup.cdc_status(
        previous=None, measure=stale, threshold=T, prev_phase="Resuming", phase="Running", now=NOW
    )
    assert got is not None and got.catching_up_since == units.rfc3339(NOW)
    # The next probe, made after the resume, can.
    later = NOW + timedelta(seconds=5)
    fresh = Measure(sample(later, backlog_bytes=0, sink_lag=0))
    got = catchup.cdc_status(
        previous=got, measure=fresh, threshold=T, prev_phase="Running", phase="Running", now=later
    )
    assert got is not None and got.catching_up_since is None


def test_a_figure_that_failed_to_be_read_does_not_end_the_catch_up() -> None:
    since = units.rfc3339(NOW - timedelta(minutes=5))
    prev = cdc(backlog_bytes=50_000, sink_lag=900, catching_up_since=since)
    m = Measure(sample(backlog_bytes=10))  # the sink lag probe failed
    got = catchup.cdc_status(
        previous=prev, measure=m, threshold=T, prev_phase="Running", phase="Running", now=NOW
    )
    assert got is not None and got.catching_up_since == since
