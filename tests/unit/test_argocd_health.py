"""The Argo CD health check (deploy/argocd/health.lua), run in real Lua interpreters.

Argo CD runs the snippet in gopher-lua (github.com/yuin/gopher-lua, the Lua 5.1
dialect) with the resource as the global ``obj`` and reads the returned
``{status, message}``.  Here it runs the same way in four interpreters over a
table of statuses (hand-written ones now; ``CAPTURED`` is where statuses
recorded from the real operator go):

- gopher-lua itself: tests/env/kstatus built by tests/env/build-kstatus.sh,
  run with ``-argocd-health`` (safe libraries only, ``obj`` decoded from JSON
  into Lua tables as Argo CD does, every number a float64);
- Lua 5.1 (the dialect gopher-lua implements) and Lua 5.4, through ``lupa``;
- Debian's ``lua5.4`` binary (tests/env/install-debs.sh installs it).

Every interpreter must give the expected health, and all must give exactly the
same status and message.  Also checks that the argocd-cm patch carries exactly
this Lua.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.gitops import (
    HEALTH_LUA,
    LUPA_RUNTIMES,
    build_kstatus,
    kstatus,
    run_gopher_lua,
    run_lua54,
    run_lupa,
    run_lupa_runtime,
)
from tests.helpers.paths import REPO

CM_PATCH = REPO / "deploy" / "argocd" / "argocd-cm-patch.yaml"
CM_KEY = "resource.customizations.health.syncjob.dev_SyncJob"


def cond(type_: str, status: str, message: str = "", reason: str = "Reason") -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-11-24T10:00:00Z",
        "observedGeneration": 2,
    }


def syncjob(status: dict[str, Any] | None, generation: int = 2) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "syncjob.dev/v1alpha1",
        "kind": "SyncJob",
        "metadata": {"name": "orders", "namespace": "sales", "generation": generation},
        "spec": {"paused": True, "connect": {"url": "http://c:8083", "connectors": ["a"]}},
    }
    if status is not None:
        obj["status"] = status
    return obj


def st(*conditions: dict[str, Any], observed: int = 2, **fields: Any) -> dict[str, Any]:
    return {"observedGeneration": observed, "conditions": list(conditions), **fields}


# (id, object, expected health, a part of the expected message)
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("no-status", syncjob(None), "Progressing", "Waiting for the operator"),
    ("empty-status", syncjob({}), "Progressing", "observe generation 2"),
    (
        "stale-generation",
        syncjob(st(cond("Ready", "True"), cond("Paused", "True"), observed=1)),
        "Progressing",
        "observe generation 2",
    ),
    (
        "stale-generation-beats-old-stalled",
        syncjob(st(cond("Stalled", "True", "old spec was wrong"), observed=1), generation=2),
        "Progressing",
        "generation 2",
    ),
    (
        "paused-converged",
        syncjob(
            st(
                cond("Ready", "True", "paused as requested"),
                cond("Paused", "True", "all connectors PAUSED"),
                cond("Reconciling", "False"),
                cond("Stalled", "False"),
                cond("RetentionAtRisk", "False"),
                cond("RetentionExceeded", "False"),
                phase="Paused",
                stage="CDC",
            )
        ),
        "Suspended",
        "all connectors PAUSED",
    ),
    (
        "paused-retention-at-risk-still-suspended",
        syncjob(
            st(
                cond("Ready", "True"),
                cond("Paused", "True", "paused"),
                cond("RetentionAtRisk", "True", "deadline in 5h"),
            )
        ),
        "Suspended",
        "paused",
    ),
    (
        "paused-retention-exceeded",
        syncjob(
            st(
                cond("Ready", "False", "retention exceeded"),
                cond("Paused", "True", "paused"),
                cond("RetentionExceeded", "True", "slot debezium_orders is lost"),
            )
        ),
        "Degraded",
        "slot debezium_orders is lost",
    ),
    (
        "stalled",
        syncjob(
            st(
                cond("Ready", "False"),
                cond("Reconciling", "True", "retrying"),
                cond("Stalled", "True", "connector orders-source FAILED"),
            )
        ),
        "Degraded",
        "orders-source FAILED",
    ),
    (
        "stalled-without-message",
        syncjob(st(cond("Stalled", "True"))),
        "Degraded",
        "Stalled",
    ),
    (
        "pausing",
        syncjob(
            st(
                cond("Ready", "False", "pausing"),
                cond("Reconciling", "True", "waiting for 2 tasks to pause", "Pausing"),
                phase="Pausing",
            )
        ),
        "Progressing",
        "waiting for 2 tasks to pause",
    ),
    (
        "waiting-for-cdc",
        syncjob(
            st(
                cond("Ready", "False"),
                cond("Reconciling", "True", "snapshot still running", "WaitingForCDCStage"),
                phase="PausePending",
                stage="Snapshot",
            )
        ),
        "Progressing",
        "snapshot still running",
    ),
    (
        "resuming-while-paused-still-true",
        syncjob(
            st(
                cond("Ready", "False"),
                cond("Paused", "True", "connectors still PAUSED"),
                cond("Reconciling", "True", "resuming", "Resuming"),
            )
        ),
        "Progressing",
        "resuming",
    ),
    (
        "running",
        syncjob(
            st(
                cond("Ready", "True", "running in CDC"),
                cond("Paused", "False"),
                cond("Reconciling", "False"),
                phase="Running",
            )
        ),
        "Healthy",
        "running in CDC",
    ),
    ("ready-no-message", syncjob(st(cond("Ready", "True"))), "Healthy", "Ready"),
    # Catching up after a resume is information: Healthy, and the message says it.
    (
        "catching-up",
        syncjob(
            st(
                cond("Ready", "True", "the job is running"),
                cond("Reconciling", "False"),
                cond("CaughtUp", "False", "catching up since the resume: sink lag 900 records"),
                phase="Running",
            )
        ),
        "Healthy",
        "the job is running; catching up since the resume: sink lag 900 records",
    ),
    (
        "caught-up",
        syncjob(
            st(
                cond("Ready", "True", "the job is running"),
                cond("CaughtUp", "True", "sink lag 0 records"),
                phase="Running",
            )
        ),
        "Healthy",
        "the job is running",
    ),
    (
        "not-ready",
        syncjob(st(cond("Ready", "False", "Kafka Connect unreachable"), phase="Failed")),
        "Degraded",
        "Kafka Connect unreachable",
    ),
    ("ready-unknown", syncjob(st(cond("Ready", "Unknown"))), "Progressing", "Waiting"),
    ("no-conditions", syncjob(st()), "Progressing", "Waiting for the Ready condition"),
    (
        "no-generation-in-metadata",
        {"metadata": {"name": "x"}, "status": st(cond("Ready", "True"), observed=1)},
        "Healthy",
        "",
    ),
    # Where interpreters could part: JSON null, and numbers (Lua 5.1 and
    # gopher-lua have only floats, Lua 5.4 integers too) compared and printed.
    ("null-status", syncjob(None) | {"status": None}, "Progressing", "Waiting for the operator"),
    ("null-conditions", syncjob({"observedGeneration": 2, "conditions": None}), "Progressing", ""),
    (
        "null-message",
        syncjob(st(cond("Ready", "False") | {"message": None})),
        "Degraded",
        "Not ready",
    ),
    (
        "stale-generation-numbers-not-strings",
        syncjob(st(cond("Ready", "True"), observed=9), generation=10),
        "Progressing",
        "observe generation 10",
    ),
    (
        "newer-observed-generation",
        syncjob(st(cond("Ready", "True", "ok"), observed=3), generation=2),
        "Healthy",
        "ok",
    ),
]

# Statuses written by the real operator go here: (id, object, health, message part).
CAPTURED: list[tuple[str, dict[str, Any], str, str]] = []

ALL = CASES + CAPTURED


@pytest.fixture(scope="session")
def gopher_lua() -> Path:
    return build_kstatus()


# --- tests --------------------------------------------------------------------

CASE_PARAMS = pytest.mark.parametrize(
    ("obj", "health", "message"), [c[1:] for c in ALL], ids=[c[0] for c in ALL]
)


@pytest.mark.parametrize("runtime", sorted(LUPA_RUNTIMES))
@CASE_PARAMS
def test_health_in_lupa(runtime: str, obj: dict[str, Any], health: str, message: str) -> None:
    got_health, got_message = run_lupa_runtime(runtime, obj)
    assert got_health == health
    assert message in got_message


@CASE_PARAMS
def test_health_in_lua54_binary(obj: dict[str, Any], health: str, message: str) -> None:
    got = run_lua54(obj)
    assert got == run_lupa(obj)
    assert got[0] == health
    assert message in got[1]


@CASE_PARAMS
def test_health_in_gopher_lua(
    gopher_lua: Path, obj: dict[str, Any], health: str, message: str
) -> None:
    got = run_gopher_lua(gopher_lua, obj)
    assert got == run_lupa(obj), "gopher-lua (what Argo CD runs) and lupa disagree"
    assert got[0] == health
    assert message in got[1]


def test_gopher_lua_runs_it_as_argo_cd_does(gopher_lua: Path, tmp_path: Path) -> None:
    """The harness itself: safe libraries only, floats, 1-based arrays, a table result."""
    probe = tmp_path / "probe.lua"
    probe.write_text(
        "local seen = {}\n"
        "for _, lib in ipairs({'os', 'io', 'debug', 'package', 'coroutine'}) do\n"
        "  if _G[lib] ~= nil then table.insert(seen, lib) end\n"
        "end\n"
        "return {status = string.upper('healthy'),\n"
        "  message = table.concat(seen, ',') .. '|' .. tostring(obj.n / 2) .. '|'\n"
        "    .. obj.list[1] .. #obj.list .. '|' .. tostring(obj.yes) .. tostring(obj.none)\n"
        "    .. '|' .. tostring(math.floor(obj.n))}\n"
    )
    out = subprocess.run(
        [str(gopher_lua), "-argocd-health", str(probe)],
        input=json.dumps({"n": 5, "list": ["a", "b"], "yes": True, "none": None}),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert json.loads(out.stdout) == {"status": "HEALTHY", "message": "|2.5|a2|truenil|5"}
    probe.write_text("return 'Healthy'\n")
    out = subprocess.run(
        [str(gopher_lua), "-argocd-health", str(probe)],
        input="{}",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 1 and "want a table" in out.stderr, out


def test_only_argo_health_statuses() -> None:
    allowed = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
    assert {health for _, _, health, _ in ALL} <= allowed


def test_argocd_cm_patch_carries_this_lua() -> None:
    patch = yaml.safe_load(CM_PATCH.read_text())
    assert patch["kind"] == "ConfigMap"
    assert patch["metadata"]["name"] == "argocd-cm"
    assert patch["data"][CM_KEY] == HEALTH_LUA.read_text(), (
        "stale argocd-cm-patch.yaml: run deploy/argocd/sync-cm-patch.sh"
    )


def test_a_job_catching_up_is_healthy_and_current(gopher_lua: Path) -> None:
    """What decide() writes right after a resume with a backlog: Argo CD Healthy, kstatus Current.

    Catching up is information (CaughtUp=False), not progress on the spec:
    the job runs as asked, so neither tool holds a sync wave or a rollout on it.
    """
    from syncjob_operator.api import v1alpha1
    from syncjob_operator.decide import reconcile
    from syncjob_operator.decide.backlog import Measure, Sample
    from tests.helpers.decide_builders import NOW, before, ctx, job, seen, sink, src

    sample = Sample(at=NOW, backlog_bytes=500 * 1024 * 1024, sink_lag=90_000)
    plan = reconcile.decide(
        job(),
        seen(src("RUNNING"), sink("RUNNING")),
        ctx(before("Resuming"), backlog=Measure(sample, 1024 * 1024, 1000.0)),
    )
    obj = syncjob(v1alpha1.dump(plan.status), generation=plan.status.observed_generation or 0)
    health, message = run_gopher_lua(gopher_lua, obj)
    assert health == "Healthy"
    assert "catching up since the resume" in message and "90000 records" in message
    assert kstatus(gopher_lua, obj)[0] == "Current"
