"""spec.autoRestart: which FAILED connectors are restarted when, and how it reads in status."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from syncjob_operator import units
from syncjob_operator.api import jobspec, jobstatus, v1alpha1
from syncjob_operator.decide import conditions, reconcile, restart
from syncjob_operator.decide.observed import Observed
from syncjob_operator.decide.plan import RestartAction
from tests.helpers.decide_builders import NOW, before, ctx, seen, sink, src

TRACE = "org.apache.kafka.connect.errors.ConnectException: walsender terminated\n\tat x.y(Z.java:1)"


def spec(enabled: bool = True, paused: bool = False, **policy: Any) -> jobspec.SyncJobSpec:
    return v1alpha1.parse_spec(
        {
            "paused": paused,
            "connect": {"url": "http://connect:8083", "connectors": ["src", "sink"]},
            "autoRestart": {"enabled": enabled, **policy},
        }
    )


def history(count: int, ago: timedelta = timedelta(seconds=5)) -> jobstatus.RestartStatus:
    return jobstatus.RestartStatus(
        count=count, last_restart_time=units.rfc3339(NOW - ago), last_trace="t"
    )


FAILED_TASK = seen(src("RUNNING", ["FAILED"], trace=None), sink("RUNNING"))
FAILED_CONNECTOR = seen(src("FAILED", [], trace=TRACE), sink("RUNNING"))
HEALTHY = seen(src("RUNNING"), sink("RUNNING"))


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, 0), (1, 30), (2, 60), (3, 120), (5, 480), (6, 600), (60, 600)],
)
def test_backoff_doubles_to_its_cap(count: int, expected: int) -> None:
    policy = jobspec.AutoRestartSpec(enabled=True)
    assert restart.delay(count, policy) == timedelta(seconds=expected)


@pytest.mark.parametrize(
    (
        "name",
        "job",
        "observed",
        "previous",
        "want_paused",
        "actions",
        "count",
        "active",
        "exhausted",
    ),
    [
        (
            "off by default",
            spec(enabled=False),
            FAILED_CONNECTOR,
            None,
            False,
            [],
            None,
            False,
            False,
        ),
        ("first failure: at once", spec(), FAILED_CONNECTOR, None, False, ["src"], 1, True, False),
        ("a failed task too", spec(), FAILED_TASK, None, False, ["src"], 1, True, False),
        ("healthy: nothing", spec(), HEALTHY, None, False, [], None, False, False),
        (
            "within the backoff: wait",
            spec(),
            FAILED_CONNECTOR,
            history(1),
            False,
            [],
            1,
            True,
            False,
        ),
        (
            "after the backoff: again",
            spec(),
            FAILED_CONNECTOR,
            history(1, timedelta(seconds=31)),
            False,
            ["src"],
            2,
            True,
            False,
        ),
        (
            "the maximum reached",
            spec(maxRestarts=2),
            FAILED_CONNECTOR,
            history(2, timedelta(hours=2)),
            False,
            [],
            2,
            False,
            True,
        ),
        (
            "never while paused",
            spec(paused=True),
            FAILED_CONNECTOR,
            None,
            True,
            [],
            None,
            False,
            False,
        ),
        (
            "healthy long after the last: the count starts over",
            spec(),
            HEALTHY,
            history(3, timedelta(hours=2)),
            False,
            [],
            0,
            False,
            False,
        ),
        (
            "healthy soon after: the count stays",
            spec(),
            HEALTHY,
            history(3, timedelta(minutes=2)),
            False,
            [],
            3,
            False,
            False,
        ),
        (
            "workers away by this pause: nothing",
            spec(),
            Observed(connectors=FAILED_CONNECTOR.connectors, connect_skipped=True),
            None,
            False,
            [],
            None,
            False,
            False,
        ),
    ],
)
def test_restart_decision(
    name: str,
    job: jobspec.SyncJobSpec,
    observed: Observed,
    previous: jobstatus.RestartStatus | None,
    want_paused: bool,
    actions: list[str],
    count: int | None,
    active: bool,
    exhausted: bool,
) -> None:
    got = restart.decide(job, observed, previous, want_paused=want_paused, now=NOW)
    assert [a.name for a in got.actions] == actions, name
    assert (got.status.count if got.status else None) == count, name
    assert (got.active, got.exhausted) == (active, exhausted), name
    assert len(got.events) == len(actions), name


def test_a_restart_records_time_trace_and_event() -> None:
    got = restart.decide(
        spec(), FAILED_CONNECTOR, history(1, timedelta(minutes=1)), want_paused=False, now=NOW
    )
    assert got.actions == (RestartAction("src", 2),)
    assert got.status == jobstatus.RestartStatus(
        count=2,
        last_restart_time=units.rfc3339(NOW),
        last_trace=(
            "org.apache.kafka.connect.errors.ConnectException: walsender terminated"
            " | at x.y(Z.java:1)"
        ),
    )
    (event,) = got.events
    assert (event.type, event.reason) == ("Warning", "ConnectorRestarted")
    assert "restart 2 of 5" in event.message and "walsender terminated" in event.message


def test_decide_restarting_is_reconciling_not_stalled() -> None:
    plan = reconcile.decide(spec(), FAILED_CONNECTOR, ctx(before("Running")))
    assert RestartAction("src", 1) in plan.actions
    assert plan.status.restarts is not None and plan.status.restarts.count == 1
    stalled = conditions.find(plan.status.conditions, conditions.STALLED)
    reconciling = conditions.find(plan.status.conditions, conditions.RECONCILING)
    assert stalled is not None and stalled.status == "False"
    assert reconciling is not None and reconciling.status == "True"
    assert reconciling.reason == "ConnectorRestarting"
    assert "ConnectorRestarted" in [e.reason for e in plan.events]


def test_decide_past_the_maximum_is_stalled_with_the_last_trace() -> None:
    prev = before("Failed").model_copy(
        update={
            "restarts": jobstatus.RestartStatus(
                count=2, last_restart_time=units.rfc3339(NOW - timedelta(hours=2)), last_trace=TRACE
            )
        }
    )
    plan = reconcile.decide(spec(maxRestarts=2), FAILED_CONNECTOR, ctx(prev))
    assert not any(isinstance(a, RestartAction) for a in plan.actions)
    stalled = conditions.find(plan.status.conditions, conditions.STALLED)
    assert stalled is not None and (stalled.status, stalled.reason) == (
        "True",
        "RestartLimitReached",
    )
    assert "2 automatic restarts did not help" in stalled.message
    assert "walsender terminated" in stalled.message


def test_decide_without_auto_restart_a_failure_stays_stalled() -> None:
    plan = reconcile.decide(spec(enabled=False), FAILED_CONNECTOR, ctx(before("Running")))
    stalled = conditions.find(plan.status.conditions, conditions.STALLED)
    assert stalled is not None and (stalled.status, stalled.reason) == ("True", "ConnectorFailed")
    assert plan.status.restarts is None
