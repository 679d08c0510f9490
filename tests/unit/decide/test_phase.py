"""pausedAt and auto-resume as decide() reports them (decide.phase)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from syncjob_operator.api import jobspec, jobstatus
from syncjob_operator.decide import reconcile
from syncjob_operator.decide.observed import (
    Observed,
)
from tests.unit.decide.builders import (
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
