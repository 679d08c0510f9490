"""What status mirrors of the observation, and the retention figures (decide.status)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.decide import reconcile, retention, status
from syncjob_operator.decide.observed import (
    Observed,
)
from tests.helpers.decide_builders import (
    NOW,
    PAUSED_BEFORE,
    PAUSED_JOB,
    PAUSED_STEADY,
    RUNNING_JOB,
    WL_JOB_PAUSED,
    WL_JOB_RUNNING,
    WL_ONLY_PAUSED,
    before,
    bound,
    ctx,
    error,
    seen,
    sink,
    src,
    wl,
)


def test_status_mirrors_connectors_with_short_traces() -> None:
    trace = "org.apache.kafka.connect.errors.ConnectException: boom\n\n  at a.b(C.java:1)\n" + (
        "  at x.y(Z.java:2)\n" * 50
    )
    plan = reconcile.decide(
        RUNNING_JOB,
        seen(src("FAILED", ["FAILED", "RUNNING"], trace=trace), sink("RUNNING")),
        ctx(before("Running")),
    )
    first = plan.status.connectors[0]
    assert (first.name, first.state, first.type, first.worker_id) == (
        "src",
        "FAILED",
        "source",
        "w0:8083",
    )
    assert first.trace == (
        "org.apache.kafka.connect.errors.ConnectException: boom | at a.b(C.java:1) | "
        "at x.y(Z.java:2)"
    )
    assert [(t.id, t.state, t.worker_id) for t in first.tasks] == [
        (0, "FAILED", "w0:8083"),
        (1, "RUNNING", "w1:8083"),
    ]
    assert [c.name for c in plan.status.connectors] == ["src", "sink"]
    # The condition names the failed connector.
    stalled = next(c for c in plan.status.conditions if c.type == "Stalled")
    assert "connector src is FAILED" in stalled.message


def test_trace_is_bounded() -> None:
    plan = reconcile.decide(
        RUNNING_JOB, seen(src("FAILED", trace="x" * 5000), sink("RUNNING")), ctx(before("Running"))
    )
    assert len(plan.status.connectors[0].trace or "") == status.TRACE_CHARS


def test_status_keeps_last_connectors_while_workers_are_at_zero() -> None:
    last = jobstatus.ConnectorStatus(
        name="src", state="PAUSED", tasks=[jobstatus.TaskStatus(id=0, state="PAUSED")]
    )
    plan = reconcile.decide(
        WL_JOB_PAUSED,
        seen(workloads=[wl(0, saved=2)], skipped=True),
        ctx(before("Paused", saved={"dbz": 2}, connectors=[last])),
    )
    assert [(c.name, c.state, c.tasks) for c in plan.status.connectors] == [("src", "PAUSED", [])]


@pytest.mark.parametrize(
    ("spec", "observed", "previous", "saved", "ready"),
    [
        pytest.param(
            WL_JOB_PAUSED,
            seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(4)]),
            before("Pausing"),
            4,
            4,
            id="recorded-as-it-is-saved",
        ),
        pytest.param(
            WL_JOB_PAUSED,
            seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(0, saved=4)]),
            before("Paused"),
            4,
            0,
            id="from-the-annotation",
        ),
        pytest.param(
            WL_JOB_PAUSED,
            seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(0)]),
            before("Paused", saved={"dbz": 4}),
            4,
            0,
            id="annotation-lost-status-kept",
        ),
        pytest.param(
            WL_JOB_RUNNING,
            seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(4, saved=4)]),
            before("Resuming", saved={"dbz": 4}),
            None,
            4,
            id="cleared-once-restored",
        ),
        pytest.param(
            WL_JOB_RUNNING,
            seen(src("RUNNING"), sink("RUNNING"), workloads=[wl(4)]),
            before("Running"),
            None,
            4,
            id="none-while-running",
        ),
    ],
)
def test_status_workloads_saved_replicas(
    spec: jobspec.SyncJobSpec,
    observed: Observed,
    previous: jobstatus.SyncJobStatus,
    saved: int | None,
    ready: int,
) -> None:
    (status,) = reconcile.decide(spec, observed, ctx(previous)).status.workloads
    assert (status.kind, status.name, status.api_version) == ("Deployment", "dbz", "apps/v1")
    assert status.saved_replicas == saved
    assert status.ready_replicas == ready


def test_status_workload_not_found() -> None:
    plan = reconcile.decide(
        WL_ONLY_PAUSED,
        seen(
            workloads=[wl(None, found=False)],
            errors=[error("WorkloadNotFound", transient=False, backend="workloads")],
        ),
        ctx(before("Running", stage=None)),
    )
    assert plan.status.workloads[0].message == "not found"
    assert plan.actions == ()


@pytest.mark.parametrize(
    ("previous", "context", "deadline", "basis"),
    [
        pytest.param(
            PAUSED_BEFORE,
            {"retention": bound(left=timedelta(days=3))},
            "2026-11-27T12:00:00Z",
            retention.PG_SAFE_WAL_SIZE,
            id="paused",
        ),
        pytest.param(
            PAUSED_BEFORE,
            {"retention": bound(left=None)},
            None,
            retention.PG_SAFE_WAL_SIZE,
            id="no-deadline",
        ),
        pytest.param(PAUSED_BEFORE, {}, None, None, id="not-probed"),
    ],
)
def test_retention_status(
    previous: jobstatus.SyncJobStatus,
    context: Mapping[str, Any],
    deadline: str | None,
    basis: str | None,
) -> None:
    status = reconcile.decide(PAUSED_JOB, PAUSED_STEADY, ctx(previous, **context)).status
    assert status.retention_deadline == deadline
    assert (status.retention.basis if status.retention else None) == basis
    if status.retention is not None:
        assert status.retention.retained_bytes == 1024
        assert status.retention.safe_bytes == 1 << 30
        assert status.retention.wal_bytes_per_second == 4096.0


def test_retention_status_carries_the_wal_sample_with_the_rate() -> None:
    """What a restarted operator goes on from: the rate and the sample it was measured up to."""
    sampled = replace(
        bound(),
        figures={
            "walBytesPerSecond": 4096.0,
            "walSampleLsn": "0/6400000",
            "walSampledAt": "2026-11-24T11:59:58.250000Z",
        },
    )
    status = reconcile.decide(PAUSED_JOB, PAUSED_STEADY, ctx(PAUSED_BEFORE, retention=sampled))
    shown = status.status.retention
    assert shown is not None
    assert (shown.wal_bytes_per_second, shown.wal_sample_lsn, shown.wal_sampled_at) == (
        4096.0,
        "0/6400000",
        "2026-11-24T11:59:58.250000Z",
    )


def test_no_retention_while_running() -> None:
    status = reconcile.decide(
        RUNNING_JOB,
        seen(src("RUNNING"), sink("RUNNING")),
        ctx(before("Running"), retention=bound()),
    ).status
    assert status.retention is None and status.retention_deadline is None


def test_retention_status_says_what_the_deadline_counts_from() -> None:
    behind = NOW - timedelta(hours=1)
    settings = retention.BinlogSettings("mariadb", "10.11.19-MariaDB", True, 86400, 1.0)
    position = retention.BinlogPosition("binlog.000001", 4, "0-1-8", int(behind.timestamp()))
    mysql_bound = retention.mysql_bound(settings, paused_at=NOW, positions=[position])
    report = reconcile.decide(
        PAUSED_JOB, PAUSED_STEADY, ctx(PAUSED_BEFORE, retention=mysql_bound)
    ).status
    assert report.retention is not None
    assert (report.retention.anchor, report.retention.position_time) == (
        "position",
        "2026-11-24T11:00:00Z",
    )
    assert report.retention.expire_seconds == 86400
    assert report.retention_deadline == "2026-11-25T11:00:00Z"
