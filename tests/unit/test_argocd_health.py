"""The Argo CD health check (deploy/argocd/health.lua), run in real Lua interpreters.

Argo CD runs the snippet with the resource as the global ``obj`` and reads the
returned ``{status, message}``.  Here it runs the same way in Lua through
``lupa`` and, when Debian's ``lua5.4`` is installed, in that binary too, over a
table of statuses: hand-written ones now; ``CAPTURED`` is where statuses
recorded from the real operator go.  Also checks that the argocd-cm patch
carries exactly this Lua.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HEALTH_LUA = REPO / "deploy" / "argocd" / "health.lua"
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
]

# Statuses written by the real operator go here: (id, object, health, message part).
CAPTURED: list[tuple[str, dict[str, Any], str, str]] = []

ALL = CASES + CAPTURED


# --- interpreters -------------------------------------------------------------


def run_lupa(obj: dict[str, Any]) -> tuple[str, str]:
    lupa = pytest.importorskip("lupa")
    runtime_module = getattr(lupa, "lua54", lupa)
    lua = runtime_module.LuaRuntime()
    lua.globals().obj = lua.table_from(obj, recursive=True)
    hs = lua.execute(HEALTH_LUA.read_text())
    return str(hs["status"]), str(hs["message"])


def lua_literal(value: Any) -> str:
    """A Python value (as decoded from JSON) as a Lua table constructor."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid Lua escapes for this text
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        items = ", ".join(f"[{json.dumps(k)}] = {lua_literal(v)}" for k, v in value.items())
        return "{" + items + "}"
    raise TypeError(type(value))


LUA_BINARY = shutil.which("lua5.4")


def run_lua54(obj: dict[str, Any]) -> tuple[str, str]:
    assert LUA_BINARY is not None
    program = (
        f"obj = {lua_literal(obj)}\n"
        f"local check = assert(loadfile({json.dumps(str(HEALTH_LUA))}))\n"
        "local hs = check()\n"
        'io.write(hs.status, "\\n", hs.message)\n'
    )
    out = subprocess.run(
        [LUA_BINARY, "-"], input=program, capture_output=True, text=True, timeout=30, check=True
    )
    status, message = out.stdout.split("\n", 1)
    return status, message


# --- tests --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "health", "message"), [c[1:] for c in ALL], ids=[c[0] for c in ALL]
)
def test_health_in_lupa(obj: dict[str, Any], health: str, message: str) -> None:
    got_health, got_message = run_lupa(obj)
    assert got_health == health
    assert message in got_message


@pytest.mark.skipif(LUA_BINARY is None, reason="lua5.4 is not installed")
@pytest.mark.parametrize(
    ("obj", "health", "message"), [c[1:] for c in ALL], ids=[c[0] for c in ALL]
)
def test_health_in_lua54_binary(obj: dict[str, Any], health: str, message: str) -> None:
    assert run_lua54(obj) == run_lupa(obj)
    assert run_lua54(obj)[0] == health


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
