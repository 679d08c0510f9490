"""The operator on a real control plane: the README's commands, status written
only on change, conditions, Events, and deletion leaving nothing behind.

These use the workloads way of pausing (a real Deployment whose Pods kwok
makes Ready), which needs no Kafka; the Kafka Connect way is in tests/e2e.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.helpers.kube import Kube
from tests.helpers.manifests import deployment, syncjob, workload_ref
from tests.helpers.operator import OperatorProcess
from tests.helpers.status import condition, converged, told_the_way


def test_readme_patch_pauses_and_records_the_generation(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.apply(deployment("orders-debezium", 2), namespace=namespace)
    kube.apply(
        syncjob("orders", {"workloads": [workload_ref("orders-debezium")]}), namespace=namespace
    )
    running = kube.wait_for("Running", lambda: converged(kube, namespace, "orders", "Running"))
    assert condition(running, "Ready")["status"] == "True"  # type: ignore[index]
    generation = running["metadata"]["generation"]

    # Exactly as the README has it.
    kube.kubectl(
        "patch",
        "syncjob",
        "orders",
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        '{"spec":{"paused":true}}',
    )
    paused = kube.wait_for("Paused", lambda: converged(kube, namespace, "orders", "Paused"))
    assert paused["status"]["observedGeneration"] == generation + 1
    assert condition(paused, "Paused")["status"] == "True"  # type: ignore[index]
    assert condition(paused, "Ready")["status"] == "True"  # type: ignore[index]
    assert paused["status"]["pausedAt"]
    deploy = kube.get("deployment", "orders-debezium", namespace)
    assert deploy is not None and deploy["spec"]["replicas"] == 0

    kube.kubectl(
        "patch",
        "syncjob",
        "orders",
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        '{"spec":{"paused":false}}',
    )
    running = kube.wait_for(
        "Running again", lambda: converged(kube, namespace, "orders", "Running")
    )
    assert running["status"]["observedGeneration"] == generation + 2
    assert "pausedAt" not in running["status"]
    messages = [e["message"] for e in kube.events(namespace, "orders")]
    assert told_the_way(messages, "Running", "Pausing", "Paused"), messages
    assert told_the_way(messages, "Paused", "Resuming", "Running"), messages


def test_status_is_written_only_when_it_changes(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.apply(deployment("w", 1), namespace=namespace)
    kube.apply(syncjob("quiet", {"workloads": [workload_ref("w")]}), namespace=namespace)
    # Running is reported as soon as the Deployment is asked for; its Pod
    # turns Ready later (kwok, slower under load) and that *is* a change the
    # status must show.  Wait until there is nothing left to report.
    obj = kube.wait_for(
        "Running with its Pod Ready", lambda: settled(kube, namespace, "quiet", ready=1)
    )
    time.sleep(2.5)  # let the last writes of the first passes land
    before = kube.get("syncjob", "quiet", namespace)
    assert before is not None
    # The operator resyncs every 2 s in the tests: five resyncs, no write.
    time.sleep(10)
    after = kube.get("syncjob", "quiet", namespace)
    assert after is not None
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"], (
        "the operator rewrote an unchanged status:\n"
        f"before: {before.get('status')}\nafter:  {after.get('status')}"
    )
    assert obj["status"]["phase"] == "Running"


FORGED = (
    '{"status":{"phase":"Paused","conditions":[{"type":"Ready","status":"False",'
    '"reason":"Forged","message":"written by hand","lastTransitionTime":"2020-01-01T00:00:00Z"}]}}'
)


@pytest.mark.parametrize(
    ("paused", "patch"),
    [
        (False, ("json", '[{"op":"remove","path":"/status"}]')),
        (False, ("merge", FORGED)),
        (True, ("json", '[{"op":"remove","path":"/status"}]')),
    ],
    ids=["running-status-removed", "running-phase-and-ready-forged", "paused-status-removed"],
)
def test_status_changed_by_someone_else_is_put_right(
    kube: Kube, operator: OperatorProcess, namespace: str, paused: bool, patch: tuple[str, str]
) -> None:
    """Status is diffed against what the operator wrote last; an edit made by
    anyone else (kubectl --subresource=status, a restore) must still be undone,
    exactly: pausedAt (deadlines count from it) and every condition's time."""
    kube.apply(deployment("w", 1), namespace=namespace)
    kube.apply(
        syncjob("edited", {"paused": paused, "workloads": [workload_ref("w")]}),
        namespace=namespace,
    )
    kube.wait_for("settled", lambda: settled(kube, namespace, "edited", ready=0 if paused else 1))
    good = kube.wait_for("a status that holds over a resync", lambda: steady(kube, namespace))
    events_before = len(kube.events(namespace, "edited"))
    # The edited object as the API server stored it (the operator repairs it
    # within a moment: reading it back afterwards may show the repair).
    forged = json.loads(
        kube.kubectl(
            "patch", "syncjob", "edited", "-n", namespace, "--subresource=status",
            "--type", patch[0], "-p", patch[1], "-o", "json",
        ).stdout
    )  # fmt: skip
    assert forged.get("status") != good["status"]

    # Repaired on the watch event (or the next resync at the latest).  What
    # must come back exactly is what the operator knows and the edit
    # destroyed; figures it observes afresh (ready Pods) may move meanwhile.
    def put_right() -> dict[str, Any] | None:
        obj = kube.get("syncjob", "edited", namespace)
        return obj if obj and essentials(obj) == essentials(good) else None

    try:
        kube.wait_for("the same status as before the edit", put_right, timeout=30)
    except AssertionError:
        now = kube.get("syncjob", "edited", namespace) or {}
        raise AssertionError(
            f"not put right:\nbefore the edit: {good['status']}\n"
            f"edited:          {forged.get('status')}\nnow:             {now.get('status')}"
        ) from None
    # Nothing happened to the job: no new Events.
    assert len(kube.events(namespace, "edited")) == events_before


def steady(kube: Kube, namespace: str) -> dict[str, Any] | None:
    before = kube.get("syncjob", "edited", namespace)
    time.sleep(2.5)  # more than one resync (2 s in the tests)
    after = kube.get("syncjob", "edited", namespace)
    if (
        before
        and after
        and before["metadata"]["resourceVersion"] == after["metadata"]["resourceVersion"]
    ):
        return after
    return None


def essentials(obj: dict[str, Any]) -> dict[str, Any]:
    status = obj.get("status") or {}
    return {
        "phase": status.get("phase"),
        "stage": status.get("stage"),
        "pausedAt": status.get("pausedAt"),
        "observedGeneration": status.get("observedGeneration"),
        "savedReplicas": [w.get("savedReplicas") for w in status.get("workloads") or []],
        "conditions": sorted(
            (c["type"], c["status"], c["reason"], c["lastTransitionTime"])
            for c in status.get("conditions") or []
        ),
    }


def settled(kube: Kube, namespace: str, name: str, *, ready: int) -> dict[str, Any] | None:
    """Converged, Ready, and the workloads' ready Pods are what the status says."""
    obj = converged(kube, namespace, name, "Paused" if ready == 0 else "Running")
    if obj is None:
        return None
    workloads = obj["status"].get("workloads") or []
    ready_cond = condition(obj, "Ready") or {}
    if (
        ready_cond.get("status") == "True"
        and workloads
        and all(w.get("readyReplicas", 0) == ready for w in workloads)
    ):
        return obj
    return None


def test_deleting_a_paused_syncjob_leaves_nothing_behind(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.apply(deployment("gone", 3), namespace=namespace)
    kube.apply(
        syncjob("gone", {"paused": True, "workloads": [workload_ref("gone")]}),
        namespace=namespace,
    )
    kube.wait_for("Paused", lambda: converged(kube, namespace, "gone", "Paused"))
    kube.kubectl("delete", "syncjob", "gone", "-n", namespace, "--timeout=60s")
    assert kube.get("syncjob", "gone", namespace) is None
    deploy = kube.wait_for(
        "the Deployment restored to 3",
        lambda: (
            (d := kube.get("deployment", "gone", namespace)) and d["spec"]["replicas"] == 3 and d
        ),
    )
    annotations = deploy["metadata"].get("annotations") or {}
    assert not any(k.startswith("syncjob.dev/") for k in annotations), annotations
