"""The chart's RBAC is exactly what the operator uses, measured with the API server's audit log.

``test_chart_apply`` asks the authorizer what the ServiceAccount *may* do;
this watches what the operator *does*.  On a control plane of its own (so
the log holds only these scenarios, and no session operator acts beside
it), the chart is installed in both of its modes (all namespaces; named
namespaces) and the operator runs as the chart's ServiceAccount, with
peering as the chart's Deployment runs it, through: pause and resume of a
Deployment, a StatefulSet, a Strimzi KafkaConnect and a custom kind with a
scale subresource (granted through ``rbac.extraScaleResources``); a Strimzi
KafkaConnector's state; a Connect Secret read; a status written by someone
else (read back, rewritten); Events; a deletion with ``onDelete: Resume``.
The API server's audit log (tests/env/controlplane.py turns it on for
every ServiceAccount) then says every request it made and its answer:

- no request by the operator was refused (403);
- every (resource, verb) the rendered RBAC grants was used, unless listed
  in ``NOT_REACHED`` with the path that needs it and why no test reaches it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.env import chart, processes
from tests.helpers.kube import Kube, patch_paused
from tests.helpers.manifests import deployment, secret, syncjob, workload_ref
from tests.helpers.operator import OperatorProcess
from tests.helpers.status import condition, converged

pytestmark = pytest.mark.integration

STRIMZI_CRDS = Path(__file__).resolve().parents[1] / "env" / "crds" / "strimzi-subset.yaml"
RELEASE = "sj"
PEERING = "syncjob-operator"
WAIT = 120  # seconds: generous, the plane shares 2 cores with JVMs and other agents

# A kind of workload that is neither apps/v1 nor Strimzi: what a user lists
# under rbac.extraScaleResources.  Its controller is played by the test.
WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {
                    "status": {},
                    "scale": {
                        "specReplicasPath": ".spec.replicas",
                        "statusReplicasPath": ".status.replicas",
                    },
                },
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}
EXTRA_SCALE = {
    "rbac.extraScaleResources[0].apiGroup": "example.com",
    "rbac.extraScaleResources[0].resources": "{widgets}",
}

# Granted (group, resource, verb) that the operator needs only on a path these
# scenarios cannot reach, with the reason.  Keep it short: each entry is a
# grant nothing here proves is needed.
NOT_REACHED: dict[tuple[str, str, str], str] = {}

Grant = tuple[str, str, str, str]  # (namespace or "" for cluster-wide, group, resource, verb)


@dataclass(frozen=True)
class Mode:
    name: str
    release_namespace: str
    apps: str  # the namespace the scenarios run in
    values: dict[str, str]
    args: tuple[str, ...]


MODES = [
    Mode("all-namespaces", "sj-all", "apps-all", {}, ()),
    Mode(
        "watchNamespaces",
        "sj-named",
        "apps-named",
        {"watchNamespaces": "{apps-named}"},
        ("--namespace=apps-named",),
    ),
]


@dataclass
class Run:
    """One mode's scenarios: what the RBAC grants, what the operator asked, what it did."""

    mode: Mode
    grants: set[Grant]
    requests: list[dict[str, Any]]  # the operator's audit events, one per request
    widget_replicas: list[int]  # spec.replicas of the Widget: before, paused, resumed


@pytest.fixture(scope="module")
def plane(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    if request.config.getoption("--kind"):
        pytest.skip("reads the API server's audit log: runs on the local control plane")
    from tests.env import controlplane

    cp = controlplane.ControlPlane(state=tmp_path_factory.mktemp("audited"))
    cp.start(timeout=240)
    try:
        kube = Kube(kubeconfig=cp.kubeconfig)
        kube.wait_for(
            "the kwok node to be Ready",
            lambda: (
                "True"
                in kube.kubectl(
                    "get",
                    "nodes",
                    "-o",
                    "jsonpath={.items[*].status.conditions[?(@.type=='Ready')].status}",
                    check=False,
                ).stdout
            ),
            timeout=WAIT,
        )
        kube.kubectl("apply", "-f", str(STRIMZI_CRDS))
        kube.apply(WIDGET_CRD)
        for crd in (
            "kafkaconnectors.kafka.strimzi.io",
            "kafkaconnects.kafka.strimzi.io",
            "widgets.example.com",
        ):
            kube.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="module", params=MODES, ids=[m.name for m in MODES])
def run(
    request: pytest.FixtureRequest, plane: Any, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    mode: Mode = request.param
    kube = Kube(kubeconfig=plane.kubeconfig)
    helm = chart.helm_binary()
    tmp = tmp_path_factory.mktemp(mode.name)
    values = {**mode.values, **EXTRA_SCALE}
    user = chart.install(kube, helm, tmp, namespace=mode.release_namespace, values=values)
    if not mode.values.get("watchNamespaces"):
        kube.kubectl("create", "namespace", mode.apps)
    rendered = chart.render(helm, release=RELEASE, namespace=mode.release_namespace, values=values)
    grants = granted([d for d in yaml.safe_load_all(rendered) if d])
    operator = OperatorProcess(
        kube=kube,
        log=tmp / "operator.log",
        env={
            "KUBECONFIG": str(
                chart.service_account_kubeconfig(
                    kube, namespace=mode.release_namespace, path=tmp / "kubeconfig"
                )
            ),
            "POD_ID": f"{mode.name}-0",
            "SYNCJOB_METRICS_PORT": str(processes.free_port()),
        },
        # As the chart's Deployment runs it (templates/deployment.yaml).
        args=("--verbose", f"--peering={PEERING}", *mode.args),
    )
    operator.start()
    try:
        widget = scenarios(kube, mode.apps)
    except BaseException:
        print(operator.tail(120))
        raise
    finally:
        operator.stop()
    return Run(
        mode=mode,
        grants=grants,
        requests=audit_requests(plane.audit_log, user),
        widget_replicas=widget,
    )


def granted(manifests: list[dict[str, Any]]) -> set[Grant]:
    """Every (namespace, group, resource, verb) the rendered Roles and ClusterRoles grant."""
    result: set[Grant] = set()
    for role in manifests:
        if role["kind"] not in ("ClusterRole", "Role"):
            continue
        scope = role["metadata"].get("namespace", "")
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        result.add((scope, group, resource, verb))
    return result


def audit_requests(log: Path, user: str) -> list[dict[str, Any]]:
    """The user's requests, one event each: its last stage (ResponseComplete once a watch ends)."""
    by_id: dict[str, dict[str, Any]] = {}
    for line in log.read_text().splitlines():
        event = json.loads(line)
        if event.get("user", {}).get("username") == user:
            by_id[event["auditID"]] = event
    return list(by_id.values())


def grant_used(run: Run, event: dict[str, Any]) -> Grant | None:
    """The grant that allowed a resource request: the ClusterRole's, else its namespace's Role's."""
    ref = event.get("objectRef")
    if not ref:
        return None  # a non-resource URL (API discovery), open to every authenticated user
    resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
    key = (ref.get("apiGroup", ""), resource, event["verb"])
    for scope in ("", ref.get("namespace", "")):
        if (scope, *key) in run.grants:
            return (scope, *key)
    return None


def describe(event: dict[str, Any]) -> str:
    code = event.get("responseStatus", {}).get("code")
    return f"{event['verb']} {event['requestURI']} -> {code}"


# --- the scenarios ---------------------------------------------------------------


def scenarios(kube: Kube, ns: str) -> list[int]:
    """Drive the operator through everything it does; returns the Widget's replica counts."""
    widget = scale_kinds(kube, ns)
    kafka_connector(kube, ns)
    connect_secret(kube, ns)
    return widget


def play_scale_controller(kube: Kube, kind: str, name: str, ns: str) -> None:
    """What a custom kind's controller does: report spec.replicas as status.replicas."""
    obj = kube.get(kind, name, ns)
    assert obj is not None
    kube.kubectl(
        "patch",
        kind,
        name,
        "-n",
        ns,
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        json.dumps({"status": {"replicas": obj["spec"]["replicas"]}}),
    )


def spec_replicas(kube: Kube, kind: str, name: str, ns: str) -> int:
    return int(((kube.get(kind, name, ns) or {}).get("spec") or {}).get("replicas", -1))


def scaled_to(kube: Kube, kind: str, name: str, ns: str, want: int) -> None:
    """Wait until the operator set spec.replicas to ``want``, then play the controller."""
    kube.wait_for(
        f"{kind} {name} scaled to {want}",
        lambda: spec_replicas(kube, kind, name, ns) == want,
        timeout=WAIT,
    )
    play_scale_controller(kube, kind, name, ns)


def scale_kinds(kube: Kube, ns: str) -> list[int]:
    """Deployment, StatefulSet, KafkaConnect and Widget in one job: pause, resume, a foreign
    status, pause again, then delete with onDelete: Resume."""
    kube.apply(deployment("deploy", 2), namespace=ns)
    sts = deployment("sts", 1)
    sts["kind"] = "StatefulSet"
    sts["spec"]["serviceName"] = "sts"
    kube.apply(sts, namespace=ns)
    kube.apply(
        {
            "apiVersion": "kafka.strimzi.io/v1beta2",
            "kind": "KafkaConnect",
            "metadata": {"name": "connect"},
            "spec": {"replicas": 1},
        },
        namespace=ns,
    )
    kube.apply(
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "widget"},
            "spec": {"replicas": 3},
        },
        namespace=ns,
    )
    customs = [("kafkaconnect", "connect"), ("widget", "widget")]
    for kind, name in customs:
        play_scale_controller(kube, kind, name, ns)
    refs = [
        workload_ref("deploy"),
        workload_ref("sts", "StatefulSet"),
        workload_ref("connect", "KafkaConnect", "kafka.strimzi.io/v1beta2"),
        workload_ref("widget", "Widget", "example.com/v1"),
    ]
    kube.apply(syncjob("scaled", {"workloads": refs, "onDelete": "Resume"}), namespace=ns)
    kube.wait_for("Running", lambda: converged(kube, ns, "scaled", "Running"), timeout=WAIT)
    seen = [spec_replicas(kube, "widget", "widget", ns)]

    def pause() -> None:
        patch_paused(kube, ns, "scaled", True)
        for kind, name in customs:
            scaled_to(kube, kind, name, ns, 0)
        kube.wait_for("Paused", lambda: converged(kube, ns, "scaled", "Paused"), timeout=WAIT)

    pause()
    seen.append(spec_replicas(kube, "widget", "widget", ns))
    patch_paused(kube, ns, "scaled", False)
    for (kind, name), want in zip(customs, (1, 3), strict=True):
        scaled_to(kube, kind, name, ns, want)
    kube.wait_for("Running", lambda: converged(kube, ns, "scaled", "Running"), timeout=WAIT)
    seen.append(spec_replicas(kube, "widget", "widget", ns))

    # Someone else writes the status: the operator reads the object back and rewrites it.
    kube.kubectl(
        "patch",
        "syncjob",
        "scaled",
        "-n",
        ns,
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        '{"status":{"phase":"Paused"}}',
    )
    kube.wait_for(
        "the status repaired",
        lambda: converged(kube, ns, "scaled", "Running"),
        timeout=WAIT,
    )

    # Deleted while paused, onDelete: Resume: everything is scaled back.
    pause()
    kube.kubectl("delete", "syncjob", "scaled", "-n", ns, "--wait=false")
    for (kind, name), want in zip(customs, (1, 3), strict=True):
        scaled_to(kube, kind, name, ns, want)
    kube.wait_for("deleted", lambda: kube.get("syncjob", "scaled", ns) is None, timeout=WAIT)
    assert spec_replicas(kube, "deployment", "deploy", ns) == 2
    assert spec_replicas(kube, "statefulset", "sts", ns) == 1
    return seen


def kafka_connector(kube: Kube, ns: str) -> None:
    """A Strimzi KafkaConnector paused and resumed through spec.state; the test plays Strimzi."""

    def report(state: str) -> None:
        status = {
            "name": "orders",
            "connector": {"state": state, "worker_id": "connect-0:8083"},
            "tasks": [{"id": 0, "state": state, "worker_id": "connect-0:8083"}],
            "type": "source",
        }
        kube.kubectl(
            "patch",
            "kafkaconnector",
            "orders",
            "-n",
            ns,
            "--subresource=status",
            "--type",
            "merge",
            "-p",
            json.dumps({"status": {"connectorStatus": status}}),
        )

    def state() -> str | None:
        return ((kube.get("kafkaconnector", "orders", ns) or {}).get("spec") or {}).get("state")

    kube.apply(
        {
            "apiVersion": "kafka.strimzi.io/v1beta2",
            "kind": "KafkaConnector",
            "metadata": {"name": "orders"},
            "spec": {
                "class": "io.debezium.connector.postgresql.PostgresConnector",
                "state": "running",
            },
        },
        namespace=ns,
    )
    report("RUNNING")
    kube.apply(syncjob("strimzi", {"kafkaConnectors": [{"name": "orders"}]}), namespace=ns)
    kube.wait_for("Running", lambda: converged(kube, ns, "strimzi", "Running"), timeout=WAIT)
    patch_paused(kube, ns, "strimzi", True)
    kube.wait_for("spec.state paused", lambda: state() == "paused", timeout=WAIT)
    report("PAUSED")
    kube.wait_for("Paused", lambda: converged(kube, ns, "strimzi", "Paused"), timeout=WAIT)
    patch_paused(kube, ns, "strimzi", False)
    kube.wait_for("spec.state running", lambda: state() == "running", timeout=WAIT)
    report("RUNNING")
    kube.wait_for("Running", lambda: converged(kube, ns, "strimzi", "Running"), timeout=WAIT)
    kube.kubectl("delete", "syncjob", "strimzi", "-n", ns, f"--timeout={WAIT}s")


def closed_port() -> int:
    port = processes.free_port()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    return port


def connect_secret(kube: Kube, ns: str) -> None:
    """Kafka Connect credentials read from a Secret; Connect is down, so a Warning Event."""
    kube.apply(secret("connect-auth", {"username": "u", "password": "p"}), namespace=ns)
    connect = {
        "url": f"http://127.0.0.1:{closed_port()}",
        "connectors": ["orders-source"],
        "authSecretRef": {"name": "connect-auth"},
    }
    kube.apply(syncjob("connect", {"connect": connect}), namespace=ns)

    def unreachable() -> bool:
        ready = condition(kube.get("syncjob", "connect", ns), "Ready")
        return bool(ready and ready["reason"] == "ConnectUnreachable")

    kube.wait_for("Ready=False/ConnectUnreachable", unreachable, timeout=WAIT)
    kube.kubectl("delete", "syncjob", "connect", "-n", ns, f"--timeout={WAIT}s")


# --- what the audit log says -------------------------------------------------------


def test_the_operator_made_requests_as_the_chart_service_account(run: Run) -> None:
    verbs = {e["verb"] for e in run.requests}
    assert {"get", "list", "watch", "patch", "create"} <= verbs, verbs
    print(f"{run.mode.name}: {len(run.requests)} requests by the operator")


def test_no_request_by_the_operator_was_denied(run: Run) -> None:
    denied = [e for e in run.requests if e.get("responseStatus", {}).get("code") == 403]
    assert not denied, "\n".join(describe(e) for e in denied)


def test_every_request_was_allowed_by_a_chart_grant(run: Run) -> None:
    """Nothing the operator did relied on a permission from elsewhere (a default role)."""
    stray = [e for e in run.requests if e.get("objectRef") and grant_used(run, e) is None]
    assert not stray, "\n".join(describe(e) for e in stray)


def test_every_grant_was_used(run: Run) -> None:
    used = {g for e in run.requests if (g := grant_used(run, e)) is not None}
    unused = {g for g in run.grants - used if g[1:] not in NOT_REACHED}
    print(f"{run.mode.name}: {len(run.grants)} grants, {len(used)} used, unused: {sorted(unused)}")
    assert not unused, "granted but never used:\n" + "\n".join(map(str, sorted(unused)))
    stale = [k for k in NOT_REACHED if not any(g[1:] == k for g in run.grants)]
    assert not stale, f"NOT_REACHED lists what the chart no longer grants: {stale}"


def test_extra_scale_resource_is_paused_and_resumed(run: Run) -> None:
    """rbac.extraScaleResources is enough to pause a custom kind (read, annotate, scale)."""
    assert run.widget_replicas == [3, 0, 3]
    widget_requests = {
        (e["verb"], e["objectRef"].get("subresource", ""))
        for e in run.requests
        if (e.get("objectRef") or {}).get("resource") == "widgets"
    }
    assert {("get", ""), ("patch", ""), ("get", "scale"), ("patch", "scale")} <= widget_requests
