"""kubectl syncjob after a resume: the lag and estimate in the table, resume --wait-caught-up."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from syncjob_operator.cli import kubectl_plugin as plugin
from syncjob_operator.cli import view

NOW = dt.datetime(2026, 11, 24, 10, 0, 0, tzinfo=dt.UTC)


def cond(type_: str, status: str, message: str = "") -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": "R",
        "message": message,
        "lastTransitionTime": "2026-11-24T09:00:00Z",
    }


def obj(*conditions: dict[str, Any], cdc: dict[str, Any] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": 4,
        "phase": "Running",
        "stage": "CDC",
        "conditions": [cond("Ready", "True", "the job is running"), *conditions],
    }
    if cdc is not None:
        status["cdc"] = cdc
    return {"metadata": {"name": "orders", "generation": 4}, "spec": {}, "status": status}


CATCHING_UP = obj(
    cond("CaughtUp", "False", "catching up since the resume: sink lag 900 records"),
    cdc={
        "lastEventTime": "2026-11-24T09:48:00Z",
        "sinkLag": 900,
        "estimatedCatchUpSeconds": 150,
        "catchingUpSince": "2026-11-24T09:59:00Z",
    },
)
CAUGHT_UP = obj(
    cond("CaughtUp", "True", "sink lag 0 records"),
    cdc={"lastEventTime": "2026-11-24T08:00:00Z", "sinkLag": 0},
)


def test_the_table_shows_lag_and_estimate_when_a_job_reports_them() -> None:
    table = view.status_table([CATCHING_UP, CAUGHT_UP, obj()], NOW, with_namespace=False)
    header, catching, caught, plain = table.splitlines()
    assert header.split()[-3:] == ["LAG", "CATCH-UP", "MESSAGE"]
    assert "12m" in catching and "~2m" in catching
    # Caught up: no lag, however old the last change (an idle source).
    assert "0s" in caught and "caught up" in caught
    assert plain.split()[7:9] == ["-", "-"]


def test_the_table_is_unchanged_without_cdc() -> None:
    assert "LAG" not in view.status_table([obj()], NOW, with_namespace=False)


@pytest.mark.parametrize(
    ("o", "state", "part"),
    [
        (CATCHING_UP, "waiting", "not caught up: catching up since the resume"),
        (CAUGHT_UP, "done", "caught up: sink lag 0 records"),
        (obj(), "done", "no backlog is measured"),
    ],
)
def test_progress_waits_for_caught_up(o: dict[str, Any], state: str, part: str) -> None:
    got = view.progress(o, target="Running", generation=4, caught_up=True)
    assert got.state == state and part in got.message


def test_without_caught_up_running_is_enough() -> None:
    assert view.progress(CATCHING_UP, target="Running", generation=4).state == "done"


def test_resume_has_wait_caught_up() -> None:
    args = plugin.build_parser().parse_args(["resume", "orders", "--wait-caught-up"])
    assert args.wait_caught_up is True
    with pytest.raises(SystemExit):
        plugin.build_parser().parse_args(["pause", "orders", "--wait-caught-up"])
