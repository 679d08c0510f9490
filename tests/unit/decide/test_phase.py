"""pausedAt and auto-resume as decide() reports them (decide.phase)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.api.jobstatus import Phase
from syncjob_operator.decide import phase, reconcile
from syncjob_operator.decide.observed import (
    Observed,
)
from syncjob_operator.decide.plan import Pace
from tests.helpers.decide_builders import (
    AUTO,
    EARLIER,
    GEN,
    NOW_TEXT,
    PAUSED_BEFORE,
    PAUSED_JOB,
    PAUSED_STEADY,
    RUNNING_JOB,
    SNAPSHOT,
    before,
    bound,
    ctx,
    job,
    seen,
    sink,
    src,
    wl,
)


@pytest.mark.parametrize(
    ("spec", "observed", "previous", "context", "paused_at"),
    [
        pytest.param(
            PAUSED_JOB,
            seen(src("RUNNING"), sink("RUNNING")),
            before("Running"),
            {},
            NOW_TEXT,
            id="set-when-the-pause-begins",
        ),
        pytest.param(
            PAUSED_JOB, PAUSED_STEADY, before("Paused"), {}, EARLIER, id="kept-while-paused"
        ),
        pytest.param(
            PAUSED_JOB,
            seen(src("RUNNING", offsets=SNAPSHOT), sink("RUNNING")),
            before("Running", stage="Snapshot"),
            {},
            None,
            id="not-set-while-deferred",
        ),
        pytest.param(
            RUNNING_JOB, PAUSED_STEADY, before("Paused"), {}, None, id="cleared-on-resume"
        ),
        pytest.param(
            job(paused=True, auto_resume="30m"),
            PAUSED_STEADY,
            PAUSED_BEFORE,
            {"retention": bound(left=timedelta(minutes=20))},
            None,
            id="cleared-on-auto-resume",
        ),
        pytest.param(
            job(paused=True, auto_resume="30m"),
            seen(src("RUNNING"), sink("RUNNING")),
            before("Running", paused_at=EARLIER, auto_resumed=AUTO),
            {"generation": GEN + 1},
            NOW_TEXT,
            id="a-new-pause-after-auto-resume-starts-afresh",
        ),
        pytest.param(
            RUNNING_JOB,
            seen(src("FAILED"), sink("RUNNING")),
            before("Resuming", paused_at=EARLIER),
            {},
            None,
            id="cleared-when-a-resume-fails",
        ),
        pytest.param(
            PAUSED_JOB,
            seen(src("PAUSED"), sink("RUNNING")),
            before("Failed", paused_at=EARLIER),
            {},
            EARLIER,
            id="kept-when-a-failed-pause-goes-on",
        ),
        pytest.param(
            PAUSED_JOB,
            seen(src("RUNNING"), sink("RUNNING")),
            before("Running", paused_at=EARLIER),
            {},
            NOW_TEXT,
            id="stale-value-from-an-older-status-replaced",
        ),
    ],
)
def test_paused_at(
    spec: jobspec.SyncJobSpec,
    observed: Observed,
    previous: jobstatus.SyncJobStatus,
    context: Mapping[str, Any],
    paused_at: str | None,
) -> None:
    assert reconcile.decide(spec, observed, ctx(previous, **context)).status.paused_at == paused_at


def test_auto_resume_is_recorded() -> None:
    plan = reconcile.decide(
        job(paused=True, auto_resume="30m"),
        PAUSED_STEADY,
        ctx(PAUSED_BEFORE, retention=bound(left=timedelta(minutes=20))),
    )
    assert plan.status.auto_resumed is not None
    assert plan.status.auto_resumed.at == NOW_TEXT
    assert plan.status.auto_resumed.deadline == "2026-11-24T12:20:00Z"
    assert plan.status.auto_resumed.generation == GEN
    assert plan.events[0].type == "Warning"


# --- the phase on its own (decide.phase.current) -----------------------------------------

NOTHING = Observed()


@pytest.mark.parametrize(
    ("facts", "previous", "observed", "expected"),
    [
        pytest.param(
            {"failures": True, "converged": True}, "Paused", NOTHING, "Failed", id="failed"
        ),
        pytest.param(
            {"want_paused": True, "converged": True}, "Pausing", NOTHING, "Paused", id="p"
        ),
        pytest.param({"converged": True}, "Resuming", NOTHING, "Running", id="running"),
        pytest.param({"errors": True}, "Paused", NOTHING, "Paused", id="an-error-keeps-it"),
        pytest.param({"errors": True}, None, NOTHING, None, id="never-a-phase-not-seen"),
        pytest.param(
            {"want_paused": True, "stage_blocks": True},
            "Running",
            NOTHING,
            "PausePending",
            id="deferred",
        ),
        pytest.param({"want_paused": True}, "Running", NOTHING, "Pausing", id="pausing"),
        pytest.param({}, "Paused", NOTHING, "Resuming", id="resuming-after-a-pause"),
        pytest.param(
            {}, "Running", seen(src("PAUSED"), sink("RUNNING")), "Resuming", id="something-paused"
        ),
        pytest.param(
            {}, "Running", seen(workloads=[wl(0, saved=2)]), "Resuming", id="replicas-saved"
        ),
        pytest.param({}, "Running", seen(src("RUNNING")), "Running", id="nothing-paused"),
    ],
)
def test_current(
    facts: Mapping[str, Any], previous: str | None, observed: Observed, expected: str | None
) -> None:
    args: dict[str, Any] = {
        "want_paused": False,
        "converged": False,
        "stage_blocks": False,
        "failures": False,
        "errors": False,
        **facts,
    }
    assert phase.current(prev=before(previous), observed=observed, **args) == expected


@pytest.mark.parametrize(
    ("phase_now", "errors", "stage_blocks", "pace"),
    [
        ("Pausing", True, False, Pace.RETRY),
        ("Running", False, True, Pace.WAITING),
        ("Pausing", False, False, Pace.TRANSITION),
        ("Resuming", False, False, Pace.TRANSITION),
        ("Paused", False, False, Pace.STEADY),
        (None, False, False, Pace.STEADY),
    ],
)
def test_pace(phase_now: Phase | None, errors: bool, stage_blocks: bool, pace: Pace) -> None:
    assert phase.pace(phase_now, errors=errors, stage_blocks=stage_blocks) is pace
