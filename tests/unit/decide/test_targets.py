"""When a connector counts as arrived at its target state (decide.targets.connector_at)."""

from __future__ import annotations

import pytest

from syncjob_operator.decide.observed import ConnectorState, TaskState
from syncjob_operator.decide.plan import ConnectorAction, Context
from syncjob_operator.decide.targets import connector_at


def c(state: str, *tasks: str) -> ConnectorState:
    return ConnectorState("x", state, tasks=tuple(TaskState(i, t) for i, t in enumerate(tasks)))


@pytest.mark.parametrize(
    ("connector", "target", "arrived"),
    [
        (c("PAUSED", "PAUSED", "PAUSED"), "PAUSED", True),
        (c("PAUSED", "PAUSED", "RUNNING"), "PAUSED", False),  # a task lags
        (c("PAUSED"), "PAUSED", False),  # tasks not assigned yet
        (c("RUNNING", "RUNNING"), "RUNNING", True),
        (c("RUNNING"), "RUNNING", False),  # just resumed from STOPPED: no tasks yet
        (c("RUNNING", "FAILED"), "RUNNING", False),
        (c("STOPPED"), "STOPPED", True),  # tasks released
        (c("STOPPED", "RUNNING"), "STOPPED", False),  # stop written, task not yet gone
        (c("STOPPED", "PAUSED"), "STOPPED", False),
        (c("STOPPED", "UNASSIGNED"), "STOPPED", True),
        (c("RUNNING", "RUNNING"), "STOPPED", False),
    ],
)
def test_connector_at(connector: ConnectorState, target: str, arrived: bool) -> None:
    assert connector_at(connector, target) is arrived


def test_a_job_whose_connect_list_has_only_sinks_is_not_held_for_a_stage() -> None:
    """With only sink connectors in spec.connect, no offsets tell the stage: the
    pause is carried out rather than deferred for ever."""
    from datetime import UTC, datetime

    from syncjob_operator.api import jobspec, jobstatus
    from syncjob_operator.decide import reconcile
    from syncjob_operator.decide.observed import Observed

    spec = jobspec.SyncJobSpec(
        paused=True, connect=jobspec.ConnectSpec(url="http://c:8083", connectors=["sink"])
    )
    seen = Observed(
        connectors=(
            ConnectorState("sink", "RUNNING", type="sink", tasks=(TaskState(0, "RUNNING"),)),
        )
    )
    plan = reconcile.decide(
        spec,
        seen,
        Context(
            generation=2,
            now=datetime(2026, 11, 24, tzinfo=UTC),
            previous=jobstatus.SyncJobStatus(phase="Running", stage="Unknown"),
        ),
    )
    assert plan.status.phase == "Pausing"
    assert plan.actions == (ConnectorAction("sink", "PAUSED"),)
