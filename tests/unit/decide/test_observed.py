"""Reading Connect's states into the observation's vocabulary (decide.observed.connect_state)."""

from __future__ import annotations

from typing import get_args

import pytest

from syncjob_operator.backends.connector_status import connector_state_from_status
from syncjob_operator.decide.observed import ConnectState, connect_state


@pytest.mark.parametrize("state", get_args(ConnectState))
def test_every_state_connect_reports_reads_as_itself(state: str) -> None:
    assert connect_state(state) == state


@pytest.mark.parametrize("text", ["running", "", "SOMETHING_NEW", "Paused"])
def test_anything_else_reads_as_unknown(text: str) -> None:
    assert connect_state(text) == "Unknown"


def test_status_json_is_read_with_its_tasks_in_order() -> None:
    seen = connector_state_from_status(
        "src",
        {
            "connector": {"state": "PAUSED", "worker_id": "w0:8083"},
            "tasks": [{"id": 1, "state": "RUNNING"}, {"id": 0, "state": "PAUSED", "trace": "t"}],
            "type": "source",
        },
    )
    assert (seen.name, seen.state, seen.type, seen.worker_id) == (
        "src",
        "PAUSED",
        "source",
        "w0:8083",
    )
    assert [(t.id, t.state, t.trace) for t in seen.tasks] == [
        (0, "PAUSED", "t"),
        (1, "RUNNING", None),
    ]
    assert connector_state_from_status("x", {}).state == "UNASSIGNED"
