"""The kubectl plugin: its pure formatting and waiting rules as tables, its kubectl calls for real.

The tables pin what a user reads (time left rounded down, the most important
message first) and when ``--wait`` may stop (only on a status written for the
patched generation).  The subprocess tests run the plugin against a stand-in
``kubectl`` script that records its arguments, and run the real kubectl (from
the venv) to prove plugin discovery finds ``kubectl-syncjob``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from syncjob_operator.cli import kubectl_plugin as plugin
from syncjob_operator.cli import view

NOW = dt.datetime(2026, 11, 24, 10, 0, 0, tzinfo=dt.UTC)
VENV_BIN = Path(sys.executable).parent


def cond(type_: str, status: str, reason: str = "Reason", message: str = "") -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-11-24T09:00:00Z",
    }


def job(
    name: str = "orders",
    *,
    namespace: str = "sales",
    generation: int = 3,
    paused: bool = True,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "syncjob.dev/v1alpha1",
        "kind": "SyncJob",
        "metadata": {"name": name, "namespace": namespace, "generation": generation},
        "spec": {"paused": paused},
    }
    if status is not None:
        obj["status"] = status
    return obj


# --- durations and times ----------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (dt.timedelta(days=2, hours=3, minutes=59), "2d3h"),
        (dt.timedelta(days=2), "2d"),
        (dt.timedelta(days=2, minutes=5), "2d"),
        (dt.timedelta(hours=5, minutes=12, seconds=40), "5h12m"),
        (dt.timedelta(hours=1), "1h"),
        (dt.timedelta(minutes=41, seconds=59), "41m"),
        (dt.timedelta(minutes=1), "1m"),
        (dt.timedelta(seconds=59, milliseconds=900), "59s"),
        (dt.timedelta(milliseconds=500), "passed"),
        (dt.timedelta(0), "passed"),
        (dt.timedelta(hours=-3), "passed"),
        (dt.timedelta(days=30, hours=23), "30d23h"),
    ],
)
def test_format_time_left(delta: dt.timedelta, expected: str) -> None:
    assert view.format_time_left(NOW + delta, NOW) == expected


def test_format_time_left_without_deadline() -> None:
    assert view.format_time_left(None, NOW) == "-"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T10:00:00Z", dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)),
        ("2026-11-27T12:00:00+02:00", dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)),
        ("2026-11-27T10:00:00.123456Z", dt.datetime(2026, 11, 27, 10, 0, 0, 123456, dt.UTC)),
        ("2026-11-27T10:00:00", dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)),
        ("", None),
        (None, None),
        ("tomorrow", None),
    ],
)
def test_parse_time(text: str | None, expected: dt.datetime | None) -> None:
    assert view.parse_time(text) == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("120s", 120),
        ("2m", 120),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("500ms", 0.5),
        ("90", 90),
        (" 10s ", 10),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert plugin.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "2d", "1h 30m", "abc", "10x", "-5s", "s"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        plugin.parse_duration(text)


# --- the status table -------------------------------------------------------------

PAUSED_CONVERGED = {
    "observedGeneration": 3,
    "stage": "CDC",
    "phase": "Paused",
    "pausedAt": "2026-11-24T08:00:00Z",
    "retentionDeadline": "2026-11-26T13:41:00Z",
    "conditions": [
        cond("Ready", "True", "Paused", "paused as requested"),
        cond("Paused", "True", "Paused", "all connectors PAUSED"),
        cond("Reconciling", "False", "Paused"),
    ],
}


@pytest.mark.parametrize(
    ("obj", "row"),
    [
        pytest.param(
            job(status=PAUSED_CONVERGED),
            [
                "orders",
                "CDC",
                "Paused",
                "true",
                "2026-11-26T13:41:00Z",
                "2d3h",
                "True",
                "paused as requested",
            ],
            id="paused",
        ),
        pytest.param(
            job(paused=False),
            ["orders", "-", "-", "false", "-", "-", "-", ""],
            id="no-status-yet",
        ),
        pytest.param(
            job(
                status={
                    "observedGeneration": 3,
                    "stage": "Snapshot",
                    "phase": "PausePending",
                    "conditions": [
                        cond("Ready", "False", "WaitingForCDCStage", "not ready"),
                        cond(
                            "Reconciling",
                            "True",
                            "WaitingForCDCStage",
                            "pause waits for\nthe CDC stage",
                        ),
                    ],
                }
            ),
            [
                "orders",
                "Snapshot",
                "PausePending",
                "true",
                "-",
                "-",
                "False",
                "pause waits for the CDC stage",
            ],
            id="pause-pending-reconciling-message-first",
        ),
        pytest.param(
            job(
                status={
                    "observedGeneration": 3,
                    "stage": "CDC",
                    "phase": "Paused",
                    "retentionDeadline": "2026-11-24T09:00:00Z",
                    "conditions": [
                        cond("Ready", "False", "RetentionExceeded", "ready message"),
                        cond("RetentionAtRisk", "True", "DeadlineNear", "at risk"),
                        cond("RetentionExceeded", "True", "SlotLost", "slot lost: re-snapshot"),
                    ],
                }
            ),
            [
                "orders",
                "CDC",
                "Paused",
                "true",
                "2026-11-24T09:00:00Z",
                "passed",
                "False",
                "slot lost: re-snapshot",
            ],
            id="retention-exceeded-beats-at-risk",
        ),
        pytest.param(
            job(
                paused=False,
                status={
                    "observedGeneration": 3,
                    "stage": "CDC",
                    "phase": "Failed",
                    "conditions": [
                        cond("Ready", "False", "ConnectorFailed", "ready says failed"),
                        cond("Stalled", "True", "ConnectorFailed", "orders-source FAILED"),
                    ],
                },
            ),
            ["orders", "CDC", "Failed", "false", "-", "-", "False", "orders-source FAILED"],
            id="stalled-first",
        ),
    ],
)
def test_status_row(obj: dict[str, Any], row: list[str]) -> None:
    assert view.status_row(obj, NOW) == row


def test_status_table_aligns_columns_like_kubectl() -> None:
    table = view.status_table(
        [job(status=PAUSED_CONVERGED), job("b", namespace="billing", paused=False)],
        NOW,
        with_namespace=True,
    )
    assert table == textwrap.dedent("""\
        NAMESPACE   NAME     STAGE   PHASE    PAUSED   DEADLINE               TIME LEFT   READY   MESSAGE
        sales       orders   CDC     Paused   true     2026-11-26T13:41:00Z   2d3h        True    paused as requested
        billing     b        -       -        false    -                      -           -
        """)  # noqa: E501


def test_format_table_without_rows_prints_headers() -> None:
    assert view.format_table(["A", "BB"], []) == "A   BB\n"


# --- when --wait stops ------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "target", "state", "message_part"),
    [
        pytest.param(job(status=PAUSED_CONVERGED), "Paused", "done", "", id="paused"),
        pytest.param(
            job(generation=4, status=PAUSED_CONVERGED),
            "Paused",
            "waiting",
            "generation 4",
            id="stale-paused-proves-nothing",
        ),
        pytest.param(job(), "Paused", "waiting", "generation 3", id="no-status"),
        pytest.param(
            job(status={**PAUSED_CONVERGED, "phase": "Pausing"}),
            "Paused",
            "waiting",
            "phase Pausing",
            id="pausing",
        ),
        pytest.param(
            job(
                status={
                    "observedGeneration": 3,
                    "phase": "Running",
                    "conditions": [cond("Ready", "True", "Running")],
                }
            ),
            "Running",
            "done",
            "",
            id="resumed",
        ),
        pytest.param(
            job(status={"observedGeneration": 5, "phase": "Running"}),
            "Running",
            "done",
            "",
            id="later-generation-counts",
        ),
        pytest.param(
            job(
                status={
                    "observedGeneration": 3,
                    "phase": "Failed",
                    "conditions": [cond("Ready", "False", "ConnectorFailed", "orders-sink FAILED")],
                }
            ),
            "Paused",
            "failed",
            "orders-sink FAILED",
            id="failed",
        ),
        pytest.param(
            job(
                status={
                    "observedGeneration": 3,
                    "phase": "Pausing",
                    "conditions": [
                        cond("Stalled", "True", "ConnectUnreachable", "connection refused")
                    ],
                }
            ),
            "Paused",
            "failed",
            "ConnectUnreachable: connection refused",
            id="stalled",
        ),
        pytest.param(
            job(
                status={
                    "observedGeneration": 3,
                    "phase": "Running",
                    "conditions": [cond("RetentionExceeded", "True", "SlotLost", "wal removed")],
                }
            ),
            "Running",
            "failed",
            "SlotLost",
            id="retention-exceeded",
        ),
    ],
)
def test_progress(obj: dict[str, Any], target: Any, state: str, message_part: str) -> None:
    generation = obj["metadata"]["generation"]
    result = view.progress(obj, target=target, generation=generation)
    assert result.state == state
    assert message_part in result.message


class FakeKubectl(plugin.Kubectl):
    """Answers get() from a list of objects, the last one repeated."""

    def __init__(self, answers: list[dict[str, Any]]) -> None:
        super().__init__(binary="kubectl")
        object.__setattr__(self, "answers", answers)

    def get(self, *, name: str, namespace: str | None) -> dict[str, Any]:
        answers: list[dict[str, Any]] = self.answers  # type: ignore[attr-defined]
        return answers.pop(0) if len(answers) > 1 else answers[0]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_wait_for_reports_each_change_once_and_stops_when_done() -> None:
    pausing = job(status={**PAUSED_CONVERGED, "phase": "Pausing", "conditions": []})
    answers = [job(), job(), pausing, pausing, job(status=PAUSED_CONVERGED)]
    clock, reports = FakeClock(), []
    result = plugin.wait_for(
        FakeKubectl(answers),
        name="orders",
        namespace="sales",
        target="Paused",
        generation=3,
        timeout=60,
        report=reports.append,
        clock=clock,
        sleep=clock.sleep,
    )
    assert result.state == "done"
    assert reports == ["waiting for the operator to observe generation 3", "phase Pausing"]
    assert clock.now == 4 * plugin.POLL_INTERVAL


def test_wait_for_is_bounded() -> None:
    clock = FakeClock()
    result = plugin.wait_for(
        FakeKubectl([job()]),
        name="orders",
        namespace=None,
        target="Paused",
        generation=3,
        timeout=7,
        report=lambda _: None,
        clock=clock,
        sleep=clock.sleep,
    )
    assert result.state == "failed"
    assert "timed out after 7s" in result.message
    assert clock.now == 7


# --- through a stand-in kubectl ---------------------------------------------------

FAKE_KUBECTL = r'''#!{python}
"""A stand-in kubectl: records argv, plays the operator after a few reads."""
import json, sys
from pathlib import Path
state_file = Path({state!r})
state = json.loads(state_file.read_text())
state["calls"].append(sys.argv[1:])
obj = state["obj"]
args = [a for a in sys.argv[1:] if not a.startswith("--") or a in ("--type",)]
if "patch" in sys.argv:
    patch = json.loads(sys.argv[sys.argv.index("-p") + 1])
    if obj["spec"].get("paused") != patch["spec"]["paused"]:
        obj["metadata"]["generation"] += 1
    obj["spec"].update(patch["spec"])
    print(json.dumps(obj))
elif "get" in sys.argv:
    state["reads"] += 1
    if state["reads"] >= state["converge_after"]:
        paused = obj["spec"]["paused"]
        obj["status"] = {{
            "observedGeneration": obj["metadata"]["generation"],
            "stage": "CDC",
            "phase": "Paused" if paused else "Running",
            "conditions": [{{"type": "Ready", "status": "True", "reason": "R",
                             "message": "converged", "lastTransitionTime": "x"}}],
        }}
    if state.get("missing"):
        print('Error from server (NotFound): syncjobs.syncjob.dev "nope" not found',
              file=sys.stderr)
        sys.exit(1)
    if "--all-namespaces" in sys.argv or len(args) == 2:
        print(json.dumps({{"items": [obj]}}))
    else:
        print(json.dumps(obj))
state_file.write_text(json.dumps(state))
'''


@pytest.fixture
def fake_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps(
            {
                "calls": [],
                "reads": 0,
                "converge_after": 2,
                "obj": job(paused=False, status={"observedGeneration": 3, "phase": "Running"}),
            }
        )
    )
    script = tmp_path / "kubectl"
    script.write_text(FAKE_KUBECTL.format(python=sys.executable, state=str(state)))
    script.chmod(0o755)
    monkeypatch.setenv("KUBECTL", str(script))
    monkeypatch.setattr(plugin, "POLL_INTERVAL", 0.05)
    return state


def calls(state: Path) -> list[list[str]]:
    return list(json.loads(state.read_text())["calls"])


def test_pause_wait_patches_with_merge_and_waits(
    fake_kubectl: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = plugin.main(
        ["pause", "orders", "-n", "sales", "--wait", "--timeout", "10s", "--context", "test-ctx"]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.out == "syncjobs.syncjob.dev/orders paused\n"
    patch, *gets = calls(fake_kubectl)
    assert patch == [
        "--context=test-ctx",
        "patch",
        "syncjobs.syncjob.dev",
        "orders",
        "--namespace",
        "sales",
        "--type",
        "merge",
        "-p",
        '{"spec": {"paused": true}}',
        "-o",
        "json",
    ]
    assert gets[0] == [
        "--context=test-ctx",
        "get",
        "syncjobs.syncjob.dev",
        "orders",
        "--namespace",
        "sales",
        "-o",
        "json",
    ]
    assert len(gets) >= 1


def test_resume_without_wait_returns_at_once(
    fake_kubectl: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert plugin.main(["resume", "orders"]) == 0
    assert "resume requested (generation 3)" in capsys.readouterr().out
    (only,) = calls(fake_kubectl)
    assert "--namespace" not in only  # the context's namespace, as kubectl would use


def test_wait_times_out(fake_kubectl: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = json.loads(fake_kubectl.read_text())
    state["converge_after"] = 10**6
    fake_kubectl.write_text(json.dumps(state))
    assert plugin.main(["pause", "orders", "--wait", "--timeout", "300ms"]) == 1
    err = capsys.readouterr().err
    assert "waiting for the operator to observe generation 4" in err
    assert "timed out after 0.3s" in err


def test_status_all_namespaces(fake_kubectl: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert plugin.main(["status", "-A"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "NAMESPACE",
        "NAME",
        "STAGE",
        "PHASE",
        "PAUSED",
        "DEADLINE",
        "TIME",
        "LEFT",
        "READY",
        "MESSAGE",
    ]
    assert lines[1].split()[:4] == ["sales", "orders", "-", "Running"]
    assert calls(fake_kubectl)[0] == [
        "get",
        "syncjobs.syncjob.dev",
        "--all-namespaces",
        "-o",
        "json",
    ]


def test_kubectl_errors_pass_through(
    fake_kubectl: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = json.loads(fake_kubectl.read_text())
    state["missing"] = True
    fake_kubectl.write_text(json.dumps(state))
    assert plugin.main(["status", "nope", "-n", "sales"]) == 1
    assert "NotFound" in capsys.readouterr().err


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        plugin.main(["pause", "orders", "--timeout", "soon"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        plugin.main(["status", "-n", "a", "-A"])
    assert plugin.main(["status", "orders", "-A"]) == 2


@pytest.mark.skipif(
    shutil.which("kubectl", path=str(VENV_BIN)) is None, reason="no kubectl in the venv"
)
def test_real_kubectl_discovers_and_runs_the_plugin(fake_kubectl: Path) -> None:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    listed = subprocess.run(
        [str(VENV_BIN / "kubectl"), "plugin", "list", "--name-only"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert "kubectl-syncjob" in listed.stdout, listed.stdout + listed.stderr
    ran = subprocess.run(
        [str(VENV_BIN / "kubectl"), "syncjob", "status", "orders", "-n", "sales"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[1].split()[:3] == ["orders", "-", "Running"]
