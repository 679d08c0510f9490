"""decide() pass after pass: a second identical pass changes nothing; whole round trips."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest

from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.decide import reconcile
from syncjob_operator.decide.observed import (
    Observed,
)
from syncjob_operator.decide.plan import (
    ClearSavedReplicasAction,
    Pace,
    ScaleAction,
)
from tests.helpers.decide_builders import (
    AUTO,
    DBZ,
    KC_PAUSED,
    NOW,
    PAUSED_JOB,
    PAUSED_STEADY,
    RUNNING_JOB,
    SNAPSHOT,
    STOP_JOB,
    WL_JOB_PAUSED,
    WL_JOB_RUNNING,
    before,
    bound,
    ctx,
    error,
    job,
    kc,
    pause,
    resume,
    seen,
    sink,
    src,
    wl,
)

# --- a second identical pass changes nothing --------------------------------------------

STEADY = [
    pytest.param(
        RUNNING_JOB, seen(src("RUNNING"), sink("RUNNING")), before("Running"), {}, id="running"
    ),
    pytest.param(PAUSED_JOB, PAUSED_STEADY, before("Pausing"), {}, id="paused"),
    pytest.param(
        STOP_JOB, seen(src("STOPPED"), sink("STOPPED")), before("Pausing"), {}, id="stopped"
    ),
    pytest.param(
        PAUSED_JOB,
        seen(src("RUNNING", offsets=SNAPSHOT), sink("RUNNING")),
        before("Running", stage="Snapshot"),
        {},
        id="pause-pending",
    ),
    pytest.param(
        PAUSED_JOB, seen(src("FAILED"), sink("PAUSED")), before("Pausing"), {}, id="failed"
    ),
    pytest.param(
        PAUSED_JOB,
        seen(src("NotFound"), sink("PAUSED"), errors=[error("ConnectorNotFound", transient=False)]),
        before("Pausing"),
        {},
        id="not-found",
    ),
    pytest.param(
        PAUSED_JOB,
        seen(src("Unknown"), sink("Unknown"), errors=[error("ConnectUnreachable", transient=True)]),
        before("Paused"),
        {},
        id="connect-unreachable",
    ),
    pytest.param(
        WL_JOB_PAUSED,
        seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(0, saved=2)]),
        before("Pausing", saved={"dbz": 2}),
        {},
        id="workloads-paused",
    ),
    pytest.param(
        WL_JOB_PAUSED,
        seen(workloads=[wl(0, saved=2)], skipped=True),
        before("Pausing", saved={"dbz": 2}),
        {},
        id="workers-at-zero",
    ),
    pytest.param(
        KC_PAUSED,
        seen(strimzi=[kc("kc", "paused", "PAUSED")]),
        before("Pausing", stage=None),
        {},
        id="strimzi-paused",
    ),
    pytest.param(
        PAUSED_JOB,
        PAUSED_STEADY,
        before("Paused"),
        {"retention": bound(left=timedelta(hours=2))},
        id="retention-at-risk",
    ),
    pytest.param(
        PAUSED_JOB,
        PAUSED_STEADY,
        before("Paused"),
        {"retention": bound(lost=True)},
        id="retention-lost",
    ),
    pytest.param(
        job(paused=True, auto_resume="30m"),
        seen(src("RUNNING"), sink("RUNNING")),
        before("Resuming", auto_resumed=AUTO),
        {},
        id="auto-resumed",
    ),
]


@pytest.mark.parametrize(("spec", "observed", "previous", "context"), STEADY)
def test_second_identical_pass_writes_nothing_and_says_nothing(
    spec: jobspec.SyncJobSpec,
    observed: Observed,
    previous: jobstatus.SyncJobStatus,
    context: Mapping[str, Any],
) -> None:
    first = reconcile.decide(spec, observed, ctx(previous, **context))
    later = NOW + timedelta(minutes=5)
    second = reconcile.decide(spec, observed, ctx(first.status, now=later, **context))
    assert second.status == first.status
    assert second.events == ()
    assert second.actions == first.actions


# --- whole round trips, one pass after another -----------------------------------------


def drive(
    spec: jobspec.SyncJobSpec, passes: Sequence[tuple[Observed, str, tuple[Any, ...]]]
) -> jobstatus.SyncJobStatus:
    """Feed each pass the status the last one wrote; check phase and actions at each."""
    status = before("Running")
    for i, (observed, phase, actions) in enumerate(passes):
        plan = reconcile.decide(spec, observed, ctx(status, now=NOW + timedelta(seconds=i)))
        assert (plan.status.phase, plan.actions) == (phase, actions), f"pass {i}"
        status = plan.status
    return status


def test_round_trip_with_connect_and_workloads() -> None:
    paused = drive(
        WL_JOB_PAUSED,
        [
            (
                seen(src("RUNNING"), sink("RUNNING"), workloads=[wl(3)]),
                "Pausing",
                (pause("src"), pause("sink")),
            ),
            (
                seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(3)]),
                "Pausing",
                (ScaleAction(DBZ, 0, save=3),),
            ),
            (
                seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(0, current=2, saved=3)]),
                "Pausing",
                (),
            ),
            (seen(workloads=[wl(0, saved=3)], skipped=True), "Paused", ()),
        ],
    )
    assert paused.workloads[0].saved_replicas == 3
    resume_passes = [
        (
            seen(
                src("Unknown"),
                sink("Unknown"),
                workloads=[wl(0)],
                errors=[error("ConnectUnreachable", transient=True)],
            ),
            "Paused",
            (ScaleAction(DBZ, 3, save=3),),
        ),
        (seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(3, ready=2, saved=3)]), "Resuming", ()),
        (
            seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(3, saved=3)]),
            "Resuming",
            (resume("src"), resume("sink"), ClearSavedReplicasAction(DBZ)),
        ),
        (seen(src("RUNNING"), sink("RUNNING"), workloads=[wl(3)]), "Running", ()),
    ]
    status = paused
    for i, (observed, phase, actions) in enumerate(resume_passes):
        plan = reconcile.decide(
            WL_JOB_RUNNING, observed, ctx(status, now=NOW + timedelta(hours=1, seconds=i))
        )
        assert (plan.status.phase, plan.actions) == (phase, actions), f"resume pass {i}"
        status = plan.status
    assert status.workloads[0].saved_replicas is None
    assert status.paused_at is None
    ready = next(c for c in status.conditions if c.type == "Ready")
    assert ready.status == "True"


def test_timed_out_transition_stays_stalled_without_new_events() -> None:
    """The handler restarts its transition clock on any pace but TRANSITION; so must not flap."""
    observed = seen(src("RUNNING"), sink("PAUSED"))
    first = reconcile.decide(PAUSED_JOB, observed, ctx(before("Pausing"), transition_elapsed=301.0))
    second = reconcile.decide(
        PAUSED_JOB,
        observed,
        ctx(first.status, now=NOW + timedelta(seconds=30), transition_elapsed=331.0),
    )
    assert [e.reason for e in first.events] == ["TransitionTimeout"]
    assert first.pace is second.pace is Pace.TRANSITION
    assert second.status == first.status and second.events == ()
    stalled = next(c for c in second.status.conditions if c.type == "Stalled")
    assert stalled.status == "True"
    assert "connector src is RUNNING, not PAUSED" in stalled.message


def test_a_lasting_outage_says_how_long() -> None:
    plan = reconcile.decide(
        RUNNING_JOB,
        seen(src("Unknown"), sink("Unknown"), errors=[error("ConnectUnreachable", transient=True)]),
        ctx(before("Running"), errors_elapsed=420.5, stall_after=300.0),
    )
    stalled = next(c for c in plan.status.conditions if c.type == "Stalled")
    assert "(for 420s)" in stalled.message, stalled
