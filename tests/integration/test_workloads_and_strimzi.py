"""Pausing by scaling, and through Strimzi KafkaConnectors, on the real control plane.

kube-controller-manager turns Deployments and StatefulSets into ReplicaSets
and Pods, kube-scheduler places them on a kwok node and kwok marks them
Running and Ready, so readiness here is the real controllers' readyReplicas.

No Strimzi operator runs here: tests/env/crds/strimzi-subset.yaml installs
KafkaConnector and KafkaConnect CRDs with Strimzi's field names, and these
tests play Strimzi's part by writing ``status.connectorStatus`` (what Strimzi
copies from Kafka Connect) and a KafkaConnect's ``status.replicas``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.kube import Kube, patch_paused
from tests.helpers.manifests import deployment, syncjob, workload_ref
from tests.helpers.operator import OperatorProcess
from tests.helpers.status import condition, converged

STRIMZI_CRDS = Path(__file__).resolve().parents[1] / "env" / "crds" / "strimzi-subset.yaml"


def statefulset(name: str, replicas: int) -> dict[str, Any]:
    d = deployment(name, replicas)
    d["kind"] = "StatefulSet"
    d["spec"]["serviceName"] = name
    return d


def ref(kind: str, name: str, api_version: str = "apps/v1") -> dict[str, str]:
    return workload_ref(name, kind, api_version)


def replicas(kube: Kube, kind: str, name: str, namespace: str) -> int | None:
    obj = kube.get(kind, name, namespace)
    return None if obj is None else int(obj["spec"].get("replicas", 0))


@pytest.fixture(scope="module")
def strimzi_crds(kube: Kube) -> None:
    kube.kubectl("apply", "-f", str(STRIMZI_CRDS))
    for crd in ("kafkaconnectors.kafka.strimzi.io", "kafkaconnects.kafka.strimzi.io"):
        kube.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")


def test_round_trip_restores_exact_replica_counts(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.apply(deployment("three", 3), namespace=namespace)
    kube.apply(statefulset("zero", 0), namespace=namespace)
    kube.apply(deployment("one", 1), namespace=namespace)
    workloads = [ref("Deployment", "three"), ref("StatefulSet", "zero"), ref("Deployment", "one")]
    kube.apply(syncjob("rt", {"workloads": workloads}), namespace=namespace)
    kube.wait_for("Running", lambda: converged(kube, namespace, "rt", "Running"))
    for cycle in range(2):
        patch_paused(kube, namespace, "rt", True)
        paused = kube.wait_for(
            f"Paused #{cycle}", lambda: converged(kube, namespace, "rt", "Paused")
        )
        saved = {w["name"]: w.get("savedReplicas") for w in paused["status"]["workloads"]}
        assert saved == {"three": 3, "zero": 0, "one": 1}
        for kind, name in (("deployment", "three"), ("statefulset", "zero"), ("deployment", "one")):
            assert replicas(kube, kind, name, namespace) == 0
            pods = kube.kubectl("get", "pods", "-n", namespace, "-l", f"app={name}", "-o", "name")
            assert pods.stdout.strip() == "", f"{name} still has pods while Paused"
            metadata = kube.get(kind, name, namespace)["metadata"]  # type: ignore[index]
            labels = metadata.get("labels", {})
            assert labels.get("syncjob.dev/saved-replicas") == str(saved[name]), (name, labels)
        patch_paused(kube, namespace, "rt", False)
        running = kube.wait_for(
            f"Running #{cycle}", lambda: converged(kube, namespace, "rt", "Running")
        )
        assert replicas(kube, "deployment", "three", namespace) == 3
        assert replicas(kube, "statefulset", "zero", namespace) == 0
        assert replicas(kube, "deployment", "one", namespace) == 1
        ready = {w["name"]: w["readyReplicas"] for w in running["status"]["workloads"]}
        assert ready == {"three": 3, "zero": 0, "one": 1}
        assert all("savedReplicas" not in w for w in running["status"]["workloads"])


@pytest.mark.parametrize("kept_in", ["label", "annotate"])
def test_operator_killed_between_two_workloads_restores_both(
    kube: Kube, operator: OperatorProcess, namespace: str, kept_in: str
) -> None:
    """The state a kill -9 leaves after the first workload of two was scaled down:
    its count saved on it and it at zero, the second untouched, and no status
    at all (lost with the operator).  The restarted operator must finish the
    pause without overwriting the first count, and restore both on resume.
    The count in a label (this release) or an annotation (releases before)."""
    kube.apply(deployment("first", 3), namespace=namespace)
    kube.apply(deployment("second", 2), namespace=namespace)
    spec = {"paused": False, "workloads": [ref("Deployment", "first"), ref("Deployment", "second")]}
    kube.apply(syncjob("half", spec), namespace=namespace)
    kube.wait_for("Running", lambda: converged(kube, namespace, "half", "Running"))

    operator.stop(kill=True)
    try:
        kube.kubectl(
            kept_in, "deployment", "first", "-n", namespace, "syncjob.dev/saved-replicas=3"
        )
        kube.kubectl("scale", "deployment", "first", "-n", namespace, "--replicas=0")
        patch_paused(kube, namespace, "half", True)
        kube.kubectl(
            "patch",
            "syncjob",
            "half",
            "-n",
            namespace,
            "--subresource=status",
            "--type",
            "merge",
            "-p",
            '{"status":null}',
        )
    finally:
        operator.start()
    paused = kube.wait_for("Paused", lambda: converged(kube, namespace, "half", "Paused"))
    saved = {w["name"]: w.get("savedReplicas") for w in paused["status"]["workloads"]}
    assert saved == {"first": 3, "second": 2}
    patch_paused(kube, namespace, "half", False)
    kube.wait_for("Running", lambda: converged(kube, namespace, "half", "Running"))
    assert replicas(kube, "deployment", "first", namespace) == 3
    assert replicas(kube, "deployment", "second", namespace) == 2
    metadata = kube.get("deployment", "first", namespace)["metadata"]  # type: ignore[index]
    for where in ("labels", "annotations"):
        assert "syncjob.dev/saved-replicas" not in (metadata.get(where) or {}), metadata


def test_manual_scale_up_while_paused_is_undone_with_an_event(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.apply(deployment("w", 2), namespace=namespace)
    kube.apply(
        syncjob("drift", {"paused": True, "workloads": [ref("Deployment", "w")]}),
        namespace=namespace,
    )
    kube.wait_for("Paused", lambda: converged(kube, namespace, "drift", "Paused"))
    kube.kubectl("scale", "deployment", "w", "-n", namespace, "--replicas=4")
    kube.wait_for(
        "the Event",
        lambda: any(
            e["reason"] == "WorkloadScaledOutsideOperator" for e in kube.events(namespace, "drift")
        ),
        timeout=30,
    )
    kube.wait_for("scaled back to 0", lambda: replicas(kube, "deployment", "w", namespace) == 0)
    paused = kube.wait_for("Paused again", lambda: converged(kube, namespace, "drift", "Paused"))
    # The count to restore is still the one from before the pause, not the manual 4.
    assert paused["status"]["workloads"][0]["savedReplicas"] == 2


def test_delete_with_on_delete_leave_leaves_the_pause(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.apply(deployment("kept", 2), namespace=namespace)
    kube.apply(
        syncjob(
            "leave", {"paused": True, "onDelete": "Leave", "workloads": [ref("Deployment", "kept")]}
        ),
        namespace=namespace,
    )
    kube.wait_for("Paused", lambda: converged(kube, namespace, "leave", "Paused"))
    kube.kubectl("delete", "syncjob", "leave", "-n", namespace, "--timeout=60s")
    assert kube.get("syncjob", "leave", namespace) is None
    deploy = kube.get("deployment", "kept", namespace)
    assert deploy is not None and deploy["spec"]["replicas"] == 0
    # The count stays on the workload, for whoever resumes it.
    assert deploy["metadata"]["labels"]["syncjob.dev/saved-replicas"] == "2"


@pytest.mark.parametrize(
    ("workload", "reason"),
    [
        (ref("Deployment", "missing"), "WorkloadNotFound"),
        (ref("ConfigMap", "settings", "v1"), "NoScaleSubresource"),
        (ref("Widget", "w", "example.com/v1"), "WorkloadKindUnknown"),
    ],
    ids=["missing", "no-scale-subresource", "unknown-kind"],
)
def test_bad_workload_gives_a_clear_condition(
    kube: Kube, operator: OperatorProcess, namespace: str, workload: dict[str, str], reason: str
) -> None:
    kube.kubectl("create", "configmap", "settings", "-n", namespace)
    kube.apply(syncjob("bad", {"paused": True, "workloads": [workload]}), namespace=namespace)

    def stalled() -> dict[str, Any] | None:
        c = condition(kube.get("syncjob", "bad", namespace), "Stalled")
        return c if c and c["status"] == "True" else None

    c = kube.wait_for("Stalled", stalled)
    assert c["reason"] == reason, c
    assert workload["name"] in c["message"] or workload["kind"] in c["message"]
    obj = kube.get("syncjob", "bad", namespace)
    ready = condition(obj, "Ready")
    assert ready is not None and ready["status"] == "False"
    # Nothing was ever paused or seen running: no phase rather than a guessed one.
    assert "phase" not in obj["status"], obj["status"]  # type: ignore[index]
    paused = condition(obj, "Paused")
    assert paused is not None and paused["status"] == "Unknown", paused


def test_custom_resource_with_a_scale_subresource(
    kube: Kube, operator: OperatorProcess, strimzi_crds: None, namespace: str
) -> None:
    """A Strimzi KafkaConnect is paused through its scale subresource; the test
    plays Strimzi by following spec.replicas with status.replicas."""
    kube.apply(
        {
            "apiVersion": "kafka.strimzi.io/v1beta2",
            "kind": "KafkaConnect",
            "metadata": {"name": "connect"},
            "spec": {"replicas": 2},
        },
        namespace=namespace,
    )

    def play_strimzi() -> None:
        obj = kube.get("kafkaconnect", "connect", namespace)
        assert obj is not None
        kube.kubectl(
            "patch",
            "kafkaconnect",
            "connect",
            "-n",
            namespace,
            "--subresource=status",
            "--type",
            "merge",
            "-p",
            json.dumps({"status": {"replicas": obj["spec"]["replicas"]}}),
        )

    play_strimzi()
    kube.apply(
        syncjob("kc", {"workloads": [ref("KafkaConnect", "connect", "kafka.strimzi.io/v1beta2")]}),
        namespace=namespace,
    )
    kube.wait_for("Running", lambda: converged(kube, namespace, "kc", "Running"))
    patch_paused(kube, namespace, "kc", True)
    kube.wait_for(
        "scaled to 0",
        lambda: (kube.get("kafkaconnect", "connect", namespace) or {})["spec"]["replicas"] == 0,
    )
    play_strimzi()
    kube.wait_for("Paused", lambda: converged(kube, namespace, "kc", "Paused"))
    patch_paused(kube, namespace, "kc", False)
    kube.wait_for(
        "scaled to 2",
        lambda: (kube.get("kafkaconnect", "connect", namespace) or {})["spec"]["replicas"] == 2,
    )
    play_strimzi()
    kube.wait_for("Running", lambda: converged(kube, namespace, "kc", "Running"))


def connector_status(state: str, tasks: int = 1) -> dict[str, Any]:
    """What Strimzi copies from GET /connectors/{n}/status into status.connectorStatus."""
    task_list = (
        []
        if state == "STOPPED"
        else [{"id": i, "state": state, "worker_id": "connect-0:8083"} for i in range(tasks)]
    )
    return {
        "name": "orders-source",
        "connector": {"state": state, "worker_id": "connect-0:8083"},
        "tasks": task_list,
        "type": "source",
    }


@pytest.mark.parametrize(
    ("mode", "strimzi_state", "connect_state"),
    [("Pause", "paused", "PAUSED"), ("Stop", "stopped", "STOPPED")],
)
def test_kafka_connector_state(
    kube: Kube,
    operator: OperatorProcess,
    strimzi_crds: None,
    namespace: str,
    mode: str,
    strimzi_state: str,
    connect_state: str,
) -> None:
    def play_strimzi(state: str) -> None:
        kube.kubectl(
            "patch",
            "kafkaconnector",
            "orders-source",
            "-n",
            namespace,
            "--subresource=status",
            "--type",
            "merge",
            "-p",
            json.dumps({"status": {"connectorStatus": connector_status(state, 2)}}),
        )

    def spec_state() -> str | None:
        obj = kube.get("kafkaconnector", "orders-source", namespace) or {}
        return obj.get("spec", {}).get("state")

    kube.apply(
        {
            "apiVersion": "kafka.strimzi.io/v1beta2",
            "kind": "KafkaConnector",
            "metadata": {"name": "orders-source"},
            "spec": {
                "class": "io.debezium.connector.postgresql.PostgresConnector",
                "tasksMax": 2,
                "state": "running",
            },
        },
        namespace=namespace,
    )
    play_strimzi("RUNNING")
    kube.apply(
        syncjob("strimzi", {"pauseMode": mode, "kafkaConnectors": [{"name": "orders-source"}]}),
        namespace=namespace,
    )
    kube.wait_for("Running", lambda: converged(kube, namespace, "strimzi", "Running"))

    patch_paused(kube, namespace, "strimzi", True)
    kube.wait_for(f"spec.state {strimzi_state}", lambda: spec_state() == strimzi_state)
    # Not Paused until Strimzi reports Connect's state: Pausing, once the
    # status hold (a second) is over.
    kube.wait_for("Pausing", lambda: converged(kube, namespace, "strimzi", "Pausing"))
    obj = kube.get("syncjob", "strimzi", namespace)
    assert obj is not None and obj["status"]["phase"] == "Pausing"
    play_strimzi(connect_state)
    paused = kube.wait_for("Paused", lambda: converged(kube, namespace, "strimzi", "Paused"))
    assert paused["status"]["kafkaConnectors"][0]["state"] == connect_state

    # Someone sets it running by hand: set back, with an Event.
    kube.kubectl(
        "patch",
        "kafkaconnector",
        "orders-source",
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        '{"spec":{"state":"running"}}',
    )
    kube.wait_for("set back", lambda: spec_state() == strimzi_state)
    kube.wait_for(
        "the Event",
        lambda: any(
            e["reason"] == "KafkaConnectorStateOverridden"
            for e in kube.events(namespace, "strimzi")
        ),
    )

    patch_paused(kube, namespace, "strimzi", False)
    kube.wait_for("spec.state running", lambda: spec_state() == "running")
    play_strimzi("RUNNING")
    kube.wait_for("Running", lambda: converged(kube, namespace, "strimzi", "Running"))
