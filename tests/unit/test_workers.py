"""The "Connect workers are away" rule: Connect's errors dropped, or reported, from the observation.

Each row is one observation as the observer hands it over (Connect's errors
apart) and what :func:`workers.settle` makes of it; the last tests check that
``decide`` reads such an observation exactly as it reads the settled one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from syncjob_operator.api import jobspec, jobstatus, v1alpha1
from syncjob_operator.decide import plan, reconcile, workers
from syncjob_operator.decide.observed import (
    BackendError,
    ConnectorState,
    Observed,
    WorkloadState,
)

DBZ = jobspec.WorkloadRef(api_version="apps/v1", kind="Deployment", name="dbz")
CONNECT = jobspec.WorkloadRef(api_version="apps/v1", kind="Deployment", name="connect")
UNREACHABLE = BackendError("connect", "ConnectUnreachable", "refused", transient=True)
TIMEOUT = BackendError("connect", "ConnectTimeout", "timed out", transient=True)
UNAUTHORIZED = BackendError("connect", "ConnectUnauthorized", "401", transient=False)
WORKLOAD_ERROR = BackendError("workloads", "KubernetesError", "500", transient=True)
SECRET_MISSING = BackendError("secrets", "SecretNotFound", "no Secret", transient=False)


def wl(
    replicas: int | None,
    *,
    saved: int | None = None,
    found: bool = True,
    ref: jobspec.WorkloadRef = CONNECT,
) -> WorkloadState:
    return WorkloadState(
        ref=ref,
        found=found,
        replicas=replicas,
        current_replicas=replicas or 0,
        ready_replicas=replicas or 0,
        saved_replicas=saved,
    )


def raw(
    workloads: Sequence[WorkloadState] = (),
    connect_errors: Sequence[BackendError] = (),
    errors: Sequence[BackendError] = (),
) -> Observed:
    unknown = tuple(ConnectorState(name=n, state="Unknown") for n in ("src", "sink"))
    return Observed(
        connectors=unknown if connect_errors else (),
        workloads=tuple(workloads),
        errors=tuple(errors),
        connect_errors=tuple(connect_errors),
    )


# Each row: the observation, then (connect_skipped, the errors reported).
ROWS = [
    # Paused: the workers are at zero with their saved count, Connect refuses: skipped.
    ("workers-at-zero", raw([wl(0, saved=2)], [UNREACHABLE]), True, ()),
    # Resuming: back at their count but not serving yet (the saved count still there).
    ("workers-coming-back", raw([wl(2, saved=2)], [UNREACHABLE, TIMEOUT]), True, ()),
    # Several workloads: every one with a saved count found is enough.
    (
        "all-saved-workloads-found",
        raw([wl(0, saved=2), wl(0, saved=1, ref=DBZ), wl(3, ref=DBZ)], [UNREACHABLE]),
        True,
        (),
    ),
    # A workload saved at 0 (it had no Pods) is no worker coming back: reported.
    ("saved-at-zero", raw([wl(0, saved=0)], [TIMEOUT]), False, (TIMEOUT,)),
    # The other errors of the pass stay reported.
    (
        "other-errors-stay",
        raw([wl(0, saved=2)], [UNREACHABLE], errors=[WORKLOAD_ERROR]),
        True,
        (WORKLOAD_ERROR,),
    ),
    # A non-transient Connect error is someone's to fix, workers or not.
    (
        "a-lasting-error-is-reported",
        raw([wl(0, saved=2)], [UNREACHABLE, UNAUTHORIZED]),
        False,
        (UNREACHABLE, UNAUTHORIZED),
    ),
    # No saved count: this job did not take the workers away; Connect is down.
    ("no-saved-count", raw([wl(0)], [UNREACHABLE]), False, (UNREACHABLE,)),
    ("no-workloads", raw([], [UNREACHABLE]), False, (UNREACHABLE,)),
    # A workload with a saved count that is not there any more: not known to be ours.
    (
        "a-saved-workload-missing",
        raw([wl(0, saved=2), wl(None, saved=1, found=False, ref=DBZ)], [UNREACHABLE]),
        False,
        (UNREACHABLE,),
    ),
    # Reported after the pass's other errors, in the order Connect gave them.
    (
        "reported-last",
        raw([wl(3)], [UNREACHABLE, TIMEOUT], errors=[WORKLOAD_ERROR]),
        False,
        (WORKLOAD_ERROR, UNREACHABLE, TIMEOUT),
    ),
    # Connect answered: nothing to judge, whatever the workloads.
    ("connect-answered", raw([wl(0, saved=2)]), False, ()),
    # No client at all (its Secret is missing): never Connect's errors, always reported.
    ("no-client", raw([wl(0, saved=2)], errors=[SECRET_MISSING]), False, (SECRET_MISSING,)),
]


@pytest.mark.parametrize(
    ("observed", "skipped", "reported"),
    [row[1:] for row in ROWS],
    ids=[row[0] for row in ROWS],
)
def test_settle(observed: Observed, skipped: bool, reported: tuple[BackendError, ...]) -> None:
    settled = workers.settle(observed)
    assert (settled.connect_skipped, settled.errors) == (skipped, reported)
    assert settled.connect_errors == ()
    # What was seen otherwise is kept as it is.
    assert (settled.connectors, settled.workloads) == (observed.connectors, observed.workloads)
    # Judged once: judging again changes nothing.
    assert workers.settle(settled) == settled


def test_an_observation_already_skipped_stays_skipped() -> None:
    observed = Observed(workloads=(wl(0, saved=2),), connect_skipped=True)
    assert workers.settle(observed) is observed


NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
JOB = v1alpha1.parse_spec(
    {
        "paused": True,
        "connect": {"url": "http://connect:8083", "connectors": ["src", "sink"]},
        "workloads": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "connect"}],
    }
)
BEFORE = jobstatus.SyncJobStatus(
    phase="Pausing",
    stage="CDC",
    paused_at="2026-11-24T10:00:00Z",
    workloads=[
        jobstatus.WorkloadStatus(
            api_version="apps/v1", kind="Deployment", name="connect", saved_replicas=2
        )
    ],
)


@pytest.mark.parametrize(
    ("observed", "phase"),
    [
        (raw([wl(0, saved=2)], [UNREACHABLE]), "Paused"),
        (raw([wl(0, saved=2)], [UNAUTHORIZED]), "Pausing"),
        (raw([wl(0)], [UNREACHABLE]), "Pausing"),
    ],
)
def test_decide_judges_connect_errors_itself(observed: Observed, phase: str) -> None:
    ctx = plan.Context(generation=3, now=NOW, previous=BEFORE)
    decided = reconcile.decide(JOB, observed, ctx)
    assert decided == reconcile.decide(JOB, workers.settle(observed), ctx)
    assert decided.status.phase == phase
