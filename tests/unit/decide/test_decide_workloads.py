"""The decision, one pass per row: pausing by scaling workloads, with and without Connect."""

from __future__ import annotations

import pytest

from syncjob_operator.api import jobstatus
from syncjob_operator.decide import reconcile
from syncjob_operator.decide.plan import (
    ClearSavedReplicasAction,
    Pace,
    ScaleAction,
)
from tests.helpers.decide_builders import (
    DBZ,
    WL_JOB_PAUSED,
    WL_JOB_RUNNING,
    WL_ONLY_PAUSED,
    WL_ONLY_RUNNING,
    Row,
    before,
    check,
    check_whole,
    ctx,
    error,
    pause,
    resume,
    row,
    seen,
    sink,
    src,
    wl,
)

WORKLOAD_ROWS = [
    # --- pause: connectors first, then the workloads ---
    row(
        "workloads-wait-for-connectors-to-quiesce",
        spec=WL_JOB_PAUSED,
        observed=seen(src("RUNNING"), sink("RUNNING"), workloads=[wl(2)]),
        previous=before("Running"),
        actions=[pause("src"), pause("sink")],
        phase="Pausing",
        events=["Pausing"],
    ),
    row(
        "workloads-scaled-once-connectors-are-paused",
        spec=WL_JOB_PAUSED,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(2)]),
        previous=before("Pausing"),
        actions=[ScaleAction(DBZ, 0, save=2)],
        phase="Pausing",
        conditions={"Ready": "False"},
        pace=Pace.TRANSITION,
    ),
    row(
        "pods-still-terminating",
        spec=WL_JOB_PAUSED,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(0, current=1, saved=2)]),
        previous=before("Pausing", saved={"dbz": 2}),
        phase="Pausing",
        conditions={"Ready": "False"},
    ),
    row(
        "workloads-at-zero-missing-ready-replicas-is-zero",
        spec=WL_JOB_PAUSED,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(0, saved=2)]),
        previous=before("Pausing", saved={"dbz": 2}),
        phase="Paused",
        conditions={"Ready": "True/Paused", "Paused": "True"},
        events=["Paused"],
    ),
    row(
        "connect-workers-at-zero-are-as-paused-as-can-be",
        spec=WL_JOB_PAUSED,
        observed=seen(workloads=[wl(0, saved=2)], skipped=True),
        previous=before("Pausing", saved={"dbz": 2}),
        phase="Paused",
        conditions={"Ready": "True/Paused"},
        events=["Paused"],
    ),
    row(
        "connect-workers-ready-but-not-serving-yet-is-still-resuming",
        spec=WL_JOB_RUNNING,
        observed=seen(workloads=[wl(2, saved=2)], skipped=True),
        previous=before("Resuming", saved={"dbz": 2}),
        phase="Resuming",
        conditions={"Ready": "False/Resuming", "Stalled": "False", "Paused": "False/Resuming"},
        pace=Pace.TRANSITION,
    ),
    row(
        "connect-workers-back-and-answering-resume-connectors-and-forget-the-count",
        spec=WL_JOB_RUNNING,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(2, saved=2)]),
        previous=before("Resuming", saved={"dbz": 2}),
        actions=[resume("src"), resume("sink"), ClearSavedReplicasAction(DBZ)],
        phase="Resuming",
        pace=Pace.TRANSITION,
    ),
    row(
        "saved-zero-is-saved",
        spec=WL_JOB_PAUSED,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(0)]),
        previous=before("Pausing"),
        actions=[ScaleAction(DBZ, 0, save=0)],
        phase="Pausing",
    ),
    row(
        "saved-zero-paused",
        spec=WL_JOB_PAUSED,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(0, saved=0)]),
        previous=before("Pausing", saved={"dbz": 0}),
        phase="Paused",
        events=["Paused"],
    ),
    row(
        "workloads-only-pause-needs-no-stage",
        spec=WL_ONLY_PAUSED,
        observed=seen(workloads=[wl(3)]),
        previous=before("Running", stage=None),
        actions=[ScaleAction(DBZ, 0, save=3)],
        phase="Pausing",
        events=["Pausing"],
    ),
    row(
        "manual-scale-up-while-paused-is-undone",
        spec=WL_JOB_PAUSED,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(2, saved=2)]),
        previous=before("Paused", saved={"dbz": 2}),
        actions=[ScaleAction(DBZ, 0, save=2)],
        phase="Pausing",
        events=["WorkloadScaledOutsideOperator", "Pausing"],
    ),
    row(
        "annotation-lost-while-paused-keeps-status-count",
        spec=WL_JOB_PAUSED,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(0)]),
        previous=before("Paused", saved={"dbz": 3}),
        phase="Paused",
    ),
    row(
        "workload-not-found-is-stalled",
        spec=WL_ONLY_PAUSED,
        observed=seen(
            workloads=[wl(None, found=False)],
            errors=[error("WorkloadNotFound", transient=False, backend="workloads")],
        ),
        previous=before("Running", stage=None),
        phase="Running",
        conditions={"Stalled": "True/WorkloadNotFound"},
        events=["WorkloadNotFound"],
    ),
    # --- resume: workloads first, then the connectors ---
    row(
        "resume-scales-up-first",
        spec=WL_JOB_RUNNING,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(0, saved=2)]),
        previous=before("Paused", saved={"dbz": 2}),
        actions=[ScaleAction(DBZ, 2, save=2)],
        phase="Resuming",
        events=["Resuming"],
        pace=Pace.TRANSITION,
    ),
    row(
        "resume-waits-for-ready-replicas",
        spec=WL_JOB_RUNNING,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(2, ready=1, saved=2)]),
        previous=before("Resuming", saved={"dbz": 2}),
        phase="Resuming",
        conditions={"Ready": "False/Resuming"},
    ),
    row(
        "resume-missing-ready-replicas-is-zero",
        spec=WL_JOB_RUNNING,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(2, ready=0, saved=2)]),
        previous=before("Resuming", saved={"dbz": 2}),
        phase="Resuming",
    ),
    row(
        "resume-connectors-once-workloads-ready",
        spec=WL_JOB_RUNNING,
        observed=seen(src("PAUSED"), sink("PAUSED"), workloads=[wl(2, saved=2)]),
        previous=before("Resuming", saved={"dbz": 2}),
        actions=[resume("src"), resume("sink"), ClearSavedReplicasAction(DBZ)],
        phase="Resuming",
    ),
    row(
        "resume-saved-three-restored-exactly",
        spec=WL_ONLY_RUNNING,
        observed=seen(workloads=[wl(0, saved=3)]),
        previous=before("Paused", stage=None, saved={"dbz": 3}),
        actions=[ScaleAction(DBZ, 3, save=3)],
        phase="Resuming",
        events=["Resuming"],
    ),
    row(
        "resume-saved-zero-restored-exactly",
        spec=WL_ONLY_RUNNING,
        observed=seen(workloads=[wl(0, saved=0)]),
        previous=before("Paused", stage=None, saved={"dbz": 0}),
        actions=[ClearSavedReplicasAction(DBZ)],
        phase="Running",
        events=["Running"],
    ),
    row(
        "resume-annotation-lost-uses-status-count",
        spec=WL_ONLY_RUNNING,
        observed=seen(workloads=[wl(0)]),
        previous=before("Paused", stage=None, saved={"dbz": 3}),
        actions=[ScaleAction(DBZ, 3, save=3)],
        phase="Resuming",
        events=["Resuming"],
    ),
    row(
        "resume-done-and-forgotten",
        spec=WL_JOB_RUNNING,
        observed=seen(src("RUNNING"), sink("RUNNING"), workloads=[wl(2)]),
        previous=before("Resuming"),
        phase="Running",
        conditions={"Ready": "True/Running"},
        events=["Running"],
    ),
    row(
        "running-workload-scaled-by-user-is-theirs",
        spec=WL_ONLY_RUNNING,
        observed=seen(workloads=[wl(5)]),
        previous=before("Running"),
        phase="Running",
    ),
    row(
        "status-lost-while-workers-at-zero-is-still-paused",
        spec=WL_JOB_PAUSED,
        observed=seen(workloads=[wl(0, saved=2)], skipped=True),
        previous=jobstatus.SyncJobStatus(),
        phase="Paused",
        conditions={"Ready": "True/Paused", "Paused": "True"},
        events=["Paused"],
    ),
]


@pytest.mark.parametrize("r", WORKLOAD_ROWS)
def test_decide(r: Row) -> None:
    check(reconcile.decide(r.spec, r.observed, ctx(r.previous, **r.context)), r)


@pytest.mark.parametrize("r", WORKLOAD_ROWS)
def test_status_is_whole(r: Row) -> None:
    check_whole(reconcile.decide(r.spec, r.observed, ctx(r.previous, **r.context)), r)
