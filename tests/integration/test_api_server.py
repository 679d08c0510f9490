"""The SyncJob API on a real kube-apiserver: the CRD installs, valid objects are
accepted, malformed ones are refused with a message naming the field, and
``kubectl explain`` reads the generated descriptions."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.helpers.kube import Kube
from tests.helpers.manifests import syncjob

CONNECT = {"url": "http://connect.kafka:8083", "connectors": ["orders-source", "orders-sink"]}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "orders-debezium"}


def _apply(kube: Kube, namespace: str, spec: dict[str, Any]) -> tuple[int, str]:
    text = yaml.safe_dump(syncjob("bad", spec))
    result = kube.kubectl("apply", "-n", namespace, "-f", "-", input=text, check=False)
    return result.returncode, result.stderr


VALID = {
    "connect-only": {"connect": CONNECT},
    "workloads-only": {"workloads": [DEPLOYMENT]},
    "strimzi-only": {"kafkaConnectors": [{"name": "orders-source"}]},
    "full": {
        "paused": True,
        "pauseMode": "Stop",
        "connect": {**CONNECT, "authSecretRef": {"name": "connect-auth"}, "requestTimeout": "5s"},
        "workloads": [DEPLOYMENT, {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "x"}],
        "kafkaConnectors": [{"name": "orders-source"}],
        "source": {
            "type": "postgresql",
            "connectionSecretRef": {"name": "orders-source-db"},
            "slotName": "debezium_orders",
            "retention": "72h",
        },
        "kafka": {"bootstrapServers": "kafka:9092,kafka-2:9092", "topics": ["orders.public.o"]},
        "retentionPolicy": {"warnBefore": "6h", "autoResumeBefore": "30m"},
        "onDelete": "Leave",
    },
    "oracle-with-retention": {
        "connect": CONNECT,
        "source": {"type": "oracle", "retention": "48h"},
    },
}


@pytest.mark.parametrize("spec", VALID.values(), ids=VALID.keys())
def test_valid_syncjob_is_accepted(
    kube: Kube, crd: object, namespace: str, spec: dict[str, Any]
) -> None:
    code, err = _apply(kube, namespace, spec)
    assert code == 0, err


# Each malformed SyncJob, and a fragment the API server's message must contain
# (the field it names, or the rule's own message).
MALFORMED: dict[str, tuple[dict[str, Any], str]] = {
    "no-way-to-pause": ({"paused": True}, "at least one way to pause is required"),
    "empty-connectors": ({"connect": {**CONNECT, "connectors": []}}, "spec.connect.connectors"),
    "blank-connector-name": (
        {"connect": {**CONNECT, "connectors": [""]}},
        "spec.connect.connectors[0]",
    ),
    "connector-name-with-slash": (
        {"connect": {**CONNECT, "connectors": ["a/b"]}},
        "spec.connect.connectors[0]",
    ),
    "url-not-a-url": ({"connect": {**CONNECT, "url": "connect:8083"}}, "spec.connect.url"),
    "url-with-space": ({"connect": {**CONNECT, "url": "http://a b"}}, "spec.connect.url"),
    "bad-pause-mode": ({"connect": CONNECT, "pauseMode": "Freeze"}, "spec.pauseMode"),
    "bad-duration": (
        {"connect": CONNECT, "retentionPolicy": {"warnBefore": "six hours"}},
        "spec.retentionPolicy.warnBefore",
    ),
    "days-are-not-go-durations": (
        {"connect": CONNECT, "source": {"type": "oracle", "retention": "3d"}},
        "spec.source.retention",
    ),
    "unknown-source-type": (
        {"connect": CONNECT, "source": {"type": "db2", "retention": "1h"}},
        "spec.source.type",
    ),
    "postgres-without-secret-or-retention": (
        {"connect": CONNECT, "source": {"type": "postgresql", "slotName": "s"}},
        "connectionSecretRef is required",
    ),
    "postgres-secret-without-slot": (
        {
            "connect": CONNECT,
            "source": {"type": "postgresql", "connectionSecretRef": {"name": "db"}},
        },
        "slotName is required",
    ),
    "oracle-without-retention": (
        {"connect": CONNECT, "source": {"type": "oracle"}},
        "oracle retention cannot be read",
    ),
    "auto-resume-after-warning": (
        {"connect": CONNECT, "retentionPolicy": {"warnBefore": "1h", "autoResumeBefore": "2h"}},
        "autoResumeBefore must be shorter than warnBefore",
    ),
    "workload-kind-lowercase": (
        {"workloads": [{**DEPLOYMENT, "kind": "deployment"}]},
        "spec.workloads[0].kind",
    ),
    "workload-without-name": (
        {"workloads": [{"apiVersion": "apps/v1", "kind": "Deployment"}]},
        "spec.workloads[0].name",
    ),
    "duplicate-kafka-connectors": (
        {"kafkaConnectors": [{"name": "a"}, {"name": "a"}]},
        "spec.kafkaConnectors[1]",
    ),
    "secret-name-uppercase": (
        {"connect": {**CONNECT, "authSecretRef": {"name": "Connect_Auth"}}},
        "spec.connect.authSecretRef.name",
    ),
    "bootstrap-without-port": (
        {"connect": CONNECT, "kafka": {"bootstrapServers": "kafka"}},
        "spec.kafka.bootstrapServers",
    ),
    "paused-not-a-bool": ({"connect": CONNECT, "paused": "yes"}, "spec.paused"),
    "unknown-field": ({"connect": CONNECT, "pausd": True}, "pausd"),
}


@pytest.mark.parametrize(("spec", "names"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_syncjob_is_refused_naming_the_field(
    kube: Kube, crd: object, namespace: str, spec: dict[str, Any], names: str
) -> None:
    code, err = _apply(kube, namespace, spec)
    assert code != 0, f"the API server accepted {spec}"
    assert names in err, err


def test_kubectl_explain_reads_the_descriptions(kube: Kube, crd: object) -> None:
    out = kube.kubectl("explain", "syncjob.spec.source").stdout
    assert "retention" in out and "connectionSecretRef" in out
    assert "Oracle archive logs" in out
    out = kube.kubectl("explain", "syncjob.spec.paused").stdout
    assert "desired runtime state" in out


def test_printer_columns(kube: Kube, crd: object, namespace: str) -> None:
    kube.apply(syncjob("cols", {"connect": CONNECT}), namespace=namespace)
    header = kube.kubectl("get", "sj", "-n", namespace).stdout.splitlines()[0].split()
    assert header == ["NAME", "STAGE", "PHASE", "PAUSED", "DEADLINE", "READY", "LAG", "AGE"]
