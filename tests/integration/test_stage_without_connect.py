"""A job paused by scaling its workload is held until CDC by what Connect's offsets topic says.

The real operator on the real control plane (its Deployment's Pods are
kwok's), and a real Kafka broker whose topic the test writes as a Connect
worker writes its offsets (tests/helpers/offsets.py).  No Connect runs: the
SyncJob has no spec.connect, only spec.kafka with its source connector
named, which is the point.  Without spec.kafka the stage is Unknown and the
pause goes ahead, saying so.
"""

from __future__ import annotations

from typing import Any

from tests.env.kafka import KafkaServer
from tests.helpers.kube import Kube, patch_paused, patch_spec
from tests.helpers.manifests import deployment, syncjob, workload_ref
from tests.helpers.offsets import SNAPSHOT, STREAMING, offsets_topic, write
from tests.helpers.operator import OperatorProcess
from tests.helpers.status import condition, converged, status


def replicas(kube: Kube, name: str, namespace: str) -> int:
    obj = kube.get("deployment", name, namespace)
    assert obj is not None
    return int(obj["spec"].get("replicas", 0))


def reasons(kube: Kube, namespace: str, name: str) -> list[str]:
    return [e["reason"] for e in kube.events(namespace, name)]


def reason_of(obj: dict[str, Any] | None, type_: str) -> str:
    """A condition as "Status/Reason"."""
    c = condition(obj, type_) or {}
    return f"{c.get('status')}/{c.get('reason')}"


def test_a_workloads_pause_waits_for_cdc_in_the_offsets_topic(
    kube: Kube, operator: OperatorProcess, namespace: str, kafka_server: KafkaServer
) -> None:
    topic = offsets_topic(kafka_server)
    write(kafka_server, topic, [("pg-orders", "orders", SNAPSHOT)])
    kube.apply(deployment("dbz", 2), namespace=namespace)
    spec = {
        "workloads": [workload_ref("dbz")],
        "kafka": {
            "bootstrapServers": kafka_server.bootstrap,
            "offsetsTopic": topic,
            "sourceConnectors": ["pg-orders"],
        },
    }
    kube.apply(syncjob("wl", spec), namespace=namespace)
    kube.wait_for(
        "stage Snapshot", lambda: status(kube, namespace, "wl").get("stage") == "Snapshot"
    )

    patch_paused(kube, namespace, "wl", True)
    pending = kube.wait_for(
        "PausePending", lambda: converged(kube, namespace, "wl", "PausePending")
    )
    paused = condition(pending, "Paused")
    assert paused is not None and paused["reason"] == "WaitingForCDCStage", paused
    assert "connector pg-orders still in the initial snapshot" in paused["message"], paused
    assert "PauseDeferred" in reasons(kube, namespace, "wl")
    assert replicas(kube, "dbz", namespace) == 2  # not scaled while the snapshot runs

    write(kafka_server, topic, [("pg-orders", "orders", STREAMING)])
    done = kube.wait_for("Paused", lambda: converged(kube, namespace, "wl", "Paused"))
    assert done["status"]["stage"] == "CDC"
    assert reason_of(done, "Paused") == "True/Paused"
    assert replicas(kube, "dbz", namespace) == 0
    assert "StageCDC" in reasons(kube, namespace, "wl")

    patch_paused(kube, namespace, "wl", False)
    kube.wait_for("Running", lambda: converged(kube, namespace, "wl", "Running"))
    assert replicas(kube, "dbz", namespace) == 2


def test_a_missing_offsets_topic_holds_the_pause_visibly_until_it_exists(
    kube: Kube, operator: OperatorProcess, namespace: str, kafka_server: KafkaServer
) -> None:
    topic = offsets_topic(kafka_server)
    write(kafka_server, topic, [("pg-items", "items", STREAMING)])
    kube.apply(deployment("dbz", 1), namespace=namespace)
    kafka = {
        "bootstrapServers": kafka_server.bootstrap,
        "offsetsTopic": "connect-cluster-offsets-not-here",
        "sourceConnectors": ["pg-items"],
    }
    kube.apply(
        syncjob("miss", {"paused": True, "workloads": [workload_ref("dbz")], "kafka": kafka}),
        namespace=namespace,
    )
    stalled = kube.wait_for(
        "Stalled=True/OffsetsTopicNotFound",
        lambda: (
            (obj := kube.get("syncjob", "miss", namespace))
            and reason_of(obj, "Stalled") == "True/OffsetsTopicNotFound"
            and obj
        ),
    )
    assert stalled["status"]["phase"] == "PausePending"
    assert "set spec.kafka.offsetsTopic" in (condition(stalled, "Ready") or {})["message"]
    assert "OffsetsTopicNotFound" in reasons(kube, namespace, "miss")
    assert replicas(kube, "dbz", namespace) == 1

    patch_spec(kube, namespace, "miss", kafka={**kafka, "offsetsTopic": topic})
    done = kube.wait_for("Paused", lambda: converged(kube, namespace, "miss", "Paused"))
    assert done["status"]["stage"] == "CDC"
    assert reason_of(done, "Stalled") == "False/NotStalled"
    assert replicas(kube, "dbz", namespace) == 0


def test_without_spec_kafka_the_pause_goes_ahead_and_says_the_stage_is_unknown(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.apply(deployment("dbz", 1), namespace=namespace)
    kube.apply(syncjob("nok", {"workloads": [workload_ref("dbz")]}), namespace=namespace)
    running = kube.wait_for("Running", lambda: converged(kube, namespace, "nok", "Running"))
    assert running["status"]["stage"] == "Unknown"
    assert reason_of(running, "Paused") == "False/StageUnknown"
    assert "set spec.kafka" in (condition(running, "Paused") or {})["message"]

    patch_paused(kube, namespace, "nok", True)
    done = kube.wait_for("Paused", lambda: converged(kube, namespace, "nok", "Paused"))
    assert reason_of(done, "Paused") == "True/StageUnknown"
    assert reason_of(done, "Ready") == "True/Paused"
    assert "PauseDeferred" not in reasons(kube, namespace, "nok")
