"""The Helm chart against the real control plane: it applies, and its RBAC is enough and no more.

``tests/unit/test_chart.py`` checks the rendered YAML; this applies it
(``helm template | kubectl apply``) to the real kube-apiserver, so every
manifest must pass the server's validation, then asks the API server's own
authorizer (``kubectl auth can-i --as=system:serviceaccount:...``) what the
chart's ServiceAccount may do: each verb the operator uses is allowed, and a
set of plausible over-grants is refused.  Last, the operator itself runs with
that ServiceAccount's token and reconciles a SyncJob, which proves the RBAC is
enough for real, not only on paper.

Needs the ``kube`` session fixture (tests/helpers/fixtures/cluster.py): an
object with ``.kubeconfig: Path`` for the admin of a throwaway test control
plane.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.env.chart import WAIT, Kube, install, kubectl, service_account_kubeconfig
from tests.env.processes import free_port
from tests.helpers import kube as kube_helpers
from tests.helpers import polling
from tests.helpers.operator import OperatorProcess

pytestmark = pytest.mark.integration


def can_i(kube: Kube, user: str, verb: str, resource: str, namespace: str | None) -> bool:
    """Asks the API server's authorizer, as ``kubectl auth can-i --as=USER`` does.

    ``resource`` is "plural[.group][/subresource]".  The SubjectAccessReview is
    sent directly rather than through ``kubectl auth can-i``, because kubectl
    first maps the resource through discovery and, for a CRD that is not
    installed (Strimzi's, here), answers "no" without asking the authorizer.
    A ServiceAccount's groups are added as the authenticator would.
    """
    resource, _, subresource = resource.partition("/")
    plural, _, group = resource.partition(".")
    sa_namespace = user.split(":")[2]
    attributes = {"verb": verb, "group": group, "resource": plural}
    if subresource:
        attributes["subresource"] = subresource
    if namespace:
        attributes["namespace"] = namespace
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user,
            "groups": [
                "system:serviceaccounts",
                f"system:serviceaccounts:{sa_namespace}",
                "system:authenticated",
            ],
            "resourceAttributes": attributes,
        },
    }
    path = Path(kube.kubeconfig).parent / f"sar-{uuid.uuid4().hex}.json"
    path.write_text(json.dumps(review))
    try:
        done = kubectl(kube.kubeconfig, "create", "-f", str(path), "-o", "json")
    finally:
        path.unlink()
    return bool(json.loads(done.stdout)["status"].get("allowed"))


def can_i_kubectl(kube: Kube, user: str, verb: str, resource: str, namespace: str) -> bool:
    """``kubectl auth can-i`` itself, for resources kubectl can resolve."""
    resource, _, subresource = resource.partition("/")
    sub = [f"--subresource={subresource}"] if subresource else []
    done = kubectl(
        kube.kubeconfig,
        "auth",
        "can-i",
        verb,
        resource,
        *sub,
        "-n",
        namespace,
        f"--as={user}",
        check=False,
    )
    return done.stdout.strip() == "yes"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


# What the operator does in a watched namespace: (verb, resource), as the
# API server's audit log shows it (test_rbac_audit.py).
WATCHED_ALLOWED = [
    *[(v, "syncjobs.syncjob.dev") for v in ("get", "list", "watch", "patch")],
    ("patch", "syncjobs.syncjob.dev/status"),
    ("create", "events"),
    ("get", "secrets"),
    # Workloads and KafkaConnectors are read from a watch-fed cache.
    *[(v, "deployments.apps") for v in ("get", "list", "watch", "patch")],
    *[(v, "statefulsets.apps") for v in ("get", "list", "watch", "patch")],
    ("patch", "deployments.apps/scale"),
    ("patch", "statefulsets.apps/scale"),
    *[(v, "kafkaconnectors.kafka.strimzi.io") for v in ("get", "list", "watch", "patch")],
    *[(v, "kafkaconnects.kafka.strimzi.io/scale") for v in ("get", "patch")],
    *[(v, "kafkaconnects.kafka.strimzi.io") for v in ("get", "list", "watch")],
]
# Plausible over-grants that must be refused everywhere.
REFUSED_EVERYWHERE = [
    ("create", "syncjobs.syncjob.dev"),
    ("delete", "syncjobs.syncjob.dev"),
    ("list", "secrets"),
    ("watch", "secrets"),
    ("create", "secrets"),
    ("get", "configmaps"),
    ("create", "pods"),
    ("get", "pods/exec"),
    ("create", "deployments.apps"),
    ("delete", "deployments.apps"),
    ("update", "deployments.apps"),
    ("patch", "deployments.apps/status"),
    ("delete", "kafkaconnectors.kafka.strimzi.io"),
    ("create", "kafkaconnectors.kafka.strimzi.io"),
    ("delete", "events"),
    ("create", "roles.rbac.authorization.k8s.io"),
    ("bind", "clusterroles.rbac.authorization.k8s.io"),
    ("create", "serviceaccounts/token"),
    ("*", "*"),
    # Granted once, never sent (the audit log says so):
    ("update", "syncjobs.syncjob.dev"),
    ("get", "syncjobs.syncjob.dev/status"),
    ("update", "syncjobs.syncjob.dev/status"),
    ("patch", "events"),
    ("create", "events.events.k8s.io"),
    ("update", "deployments.apps/scale"),
    ("update", "statefulsets.apps/scale"),
    # apps/v1 workloads' counts are read from the object, not from /scale.
    ("get", "deployments.apps/scale"),
    ("get", "statefulsets.apps/scale"),
]


def test_chart_applies_and_grants_exactly_cluster_wide(
    kube: Kube, helm: Path, tmp_path: Path
) -> None:
    operator_ns = unique("sj-op")
    user = install(kube, helm, tmp_path, namespace=operator_ns, values={})
    elsewhere = unique("sj-any")
    kubectl(kube.kubeconfig, "create", "namespace", elsewhere)

    for verb, resource in WATCHED_ALLOWED:
        assert can_i(kube, user, verb, resource, elsewhere), f"{verb} {resource} refused"
    for verb in ("list", "watch"):
        assert can_i(kube, user, verb, "customresourcedefinitions.apiextensions.k8s.io", None)
    for verb in ("list", "watch", "patch"):
        assert can_i(kube, user, verb, "clusterkopfpeerings.kopf.dev", None)

    for verb, resource in REFUSED_EVERYWHERE:
        assert not can_i(kube, user, verb, resource, elsewhere), f"{verb} {resource} allowed"
    for verb, resource in [
        ("create", "clusterkopfpeerings.kopf.dev"),
        ("delete", "namespaces"),
        # Kopf watches namespaces only when it is given named ones.
        ("list", "namespaces"),
        ("watch", "namespaces"),
        ("get", "nodes"),
        ("create", "customresourcedefinitions.apiextensions.k8s.io"),
        ("update", "customresourcedefinitions.apiextensions.k8s.io"),
    ]:
        assert not can_i(kube, user, verb, resource, None), f"{verb} {resource} allowed"

    # The same answers through `kubectl auth can-i` for resources it can resolve.
    assert can_i_kubectl(kube, user, "patch", "syncjobs.syncjob.dev/status", elsewhere)
    assert can_i_kubectl(kube, user, "patch", "deployments.apps/scale", elsewhere)
    assert not can_i_kubectl(kube, user, "update", "deployments.apps/scale", elsewhere)
    assert not can_i_kubectl(kube, user, "delete", "syncjobs.syncjob.dev", elsewhere)
    assert not can_i_kubectl(kube, user, "list", "secrets", elsewhere)

    peering = json.loads(
        kubectl(
            kube.kubeconfig, "get", "clusterkopfpeering", "syncjob-operator", "-o", "json"
        ).stdout
    )
    assert peering["kind"] == "ClusterKopfPeering"


def test_chart_applies_and_grants_only_the_watched_namespaces(
    kube: Kube, helm: Path, tmp_path: Path
) -> None:
    operator_ns, watched_a, watched_b = unique("sj-op"), unique("sj-a"), unique("sj-b")
    outside = unique("sj-out")
    user = install(
        kube,
        helm,
        tmp_path,
        namespace=operator_ns,
        values={"watchNamespaces": f"{{{watched_a},{watched_b}}}"},
    )
    kubectl(kube.kubeconfig, "create", "namespace", outside)

    for ns in (watched_a, watched_b):
        for verb, resource in WATCHED_ALLOWED:
            assert can_i(kube, user, verb, resource, ns), f"{verb} {resource} refused in {ns}"
        for verb in ("list", "watch", "patch"):
            assert can_i(kube, user, verb, "kopfpeerings.kopf.dev", ns)
        for verb, resource in REFUSED_EVERYWHERE:
            assert not can_i(kube, user, verb, resource, ns), f"{verb} {resource} allowed"
        kubectl(kube.kubeconfig, "get", "kopfpeering", "syncjob-operator", "-n", ns)

    for verb, resource in WATCHED_ALLOWED:
        assert not can_i(kube, user, verb, resource, outside), f"{verb} {resource} outside"
    for verb, resource in [
        ("get", "secrets"),
        ("list", "syncjobs.syncjob.dev"),
        ("get", "clusterkopfpeerings.kopf.dev"),
    ]:
        assert not can_i(kube, user, verb, resource, None), f"cluster-wide {verb} {resource}"
    assert can_i(kube, user, "list", "namespaces", None)
    assert can_i(kube, user, "list", "customresourcedefinitions.apiextensions.k8s.io", None)


# --- the operator itself, with the chart's ServiceAccount -----------------------


# These replicas' settings: text logs (the tests read them), the tests' short intervals.
CHART_SETTINGS = {
    "SYNCJOB_HEALTH_PORT": "0",
    "SYNCJOB_LOG_FORMAT": "text",
    "SYNCJOB_RESYNC_INTERVAL": "2",
    "SYNCJOB_WATCHED_RESYNC_INTERVAL": "2",
    "SYNCJOB_RETRY_MIN": "0.5",
    "SYNCJOB_RETRY_MAX": "4",
}


@contextlib.contextmanager
def operator_process(
    kubeconfig: Path, args: list[str], log: Path, *, pod_id: str, metrics_port: int = 0
) -> Iterator[subprocess.Popen[bytes]]:
    """One replica, as ``kubeconfig``'s user, as long as the block runs; its process."""
    op = OperatorProcess(
        kube=kube_helpers.Kube(kubeconfig=kubeconfig),
        log=log,
        env={"POD_ID": pod_id, "SYNCJOB_METRICS_PORT": str(metrics_port)},
        args=tuple(args),
        settings=CHART_SETTINGS,
    )
    op.start()
    try:
        assert op.proc is not None
        yield op.proc
    finally:
        op.stop()


def create_workload_syncjob(kube: Kube, tmp_path: Path, namespace: str, name: str) -> None:
    """A SyncJob that pauses by scaling a Deployment (no Kafka Connect needed)."""
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"{name}-debezium", "namespace": namespace},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "c", "image": "example.invalid/c:1"}]},
                },
            },
        },
        {
            "apiVersion": "syncjob.dev/v1alpha1",
            "kind": "SyncJob",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "paused": True,
                "workloads": [
                    {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{name}-debezium"}
                ],
            },
        },
    ]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    kubectl(kube.kubeconfig, "apply", "-f", str(path))


def wait_observed(kube: Kube, namespace: str, name: str, log: Path) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    obj: dict[str, Any] = {}
    while time.monotonic() < deadline:
        obj = json.loads(
            kubectl(kube.kubeconfig, "get", "syncjob", name, "-n", namespace, "-o", "json").stdout
        )
        status = obj.get("status") or {}
        if status.get("observedGeneration") == obj["metadata"]["generation"]:
            return obj
        time.sleep(1)
    raise AssertionError(
        f"SyncJob {namespace}/{name} not reconciled in {WAIT}s: {obj.get('status')}\n"
        + log.read_text(errors="replace")[-4000:]
    )


def assert_no_forbidden(log: Path) -> None:
    text = log.read_text(errors="replace")
    # 403 as a status, not as the milliseconds of a log line's time ("06:09:17,403").
    status_403 = re.search(r"(?<![\d,.:])403(?!\d)", text)
    assert status_403 is None and "forbidden" not in text.lower(), text[-4000:]


def install_watching_one_namespace(kube: Kube, helm: Path, tmp_path: Path) -> tuple[str, Path]:
    """The chart in a namespace of its own, watching one other: (watched, SA kubeconfig)."""
    operator_ns, watched = unique("sj-op"), unique("sj-w")
    install(
        kube, helm, tmp_path, namespace=operator_ns, values={"watchNamespaces": f"{{{watched}}}"}
    )
    return watched, service_account_kubeconfig(
        kube, namespace=operator_ns, path=tmp_path / "sa.kubeconfig"
    )


def test_operator_works_with_the_chart_service_account(
    kube: Kube, helm: Path, tmp_path: Path
) -> None:
    watched, sa_config = install_watching_one_namespace(kube, helm, tmp_path)
    create_workload_syncjob(kube, tmp_path, watched, "orders")
    log = tmp_path / "operator.log"
    args = ["--namespace", watched, "--peering", "syncjob-operator"]
    with operator_process(sa_config, args, log, pod_id="op-0") as proc:
        obj = wait_observed(kube, watched, "orders", log)
        assert proc.poll() is None, log.read_text(errors="replace")[-4000:]
    assert obj["status"].get("conditions"), obj["status"]
    assert_no_forbidden(log)


def test_two_replicas_with_peering_one_acts(kube: Kube, helm: Path, tmp_path: Path) -> None:
    """Two replicas in one Kopf peering: exactly one handles SyncJobs; when it
    goes, the other takes over.  (Kopf freezes every peer that shares the top
    priority, so each replica picks its own at random.)"""
    watched, sa_config = install_watching_one_namespace(kube, helm, tmp_path)
    # --verbose: every handler run is logged, which shows who handles the SyncJob.
    args = ["--namespace", watched, "--peering", "syncjob-operator", "--verbose"]
    logs = {"op-a": tmp_path / "op-a.log", "op-b": tmp_path / "op-b.log"}
    with contextlib.ExitStack() as stack:
        procs = {
            pod: stack.enter_context(operator_process(sa_config, args, log, pod_id=pod))
            for pod, log in logs.items()
        }
        deadline = time.monotonic() + WAIT
        peers: dict[str, Any] = {}
        while time.monotonic() < deadline and len(peers) < 2:
            peering = json.loads(
                kubectl(
                    kube.kubeconfig,
                    "get",
                    "kopfpeering",
                    "syncjob-operator",
                    "-n",
                    watched,
                    "-o",
                    "json",
                ).stdout
            )
            peers = peering.get("status") or {}
            time.sleep(1)
        assert set(peers) == {"op-a", "op-b"}, peers
        time.sleep(3)  # both have seen each other: the lower priority stands by
        create_workload_syncjob(kube, tmp_path, watched, "orders")
        wait_observed(kube, watched, "orders", logs["op-a"])

        def handled_by() -> list[str]:
            return [pod for pod, log in logs.items() if "Handler 'wake'" in log.read_text()]

        acting = handled_by()
        assert len(acting) == 1, {pod: log.read_text()[-1500:] for pod, log in logs.items()}

        # The acting replica goes; the standby takes over and reconciles a change.
        procs[acting[0]].terminate()
        procs[acting[0]].wait(timeout=30)
        kubectl(
            kube.kubeconfig,
            "patch",
            "syncjob",
            "orders",
            "-n",
            watched,
            "--type",
            "merge",
            "-p",
            '{"spec":{"paused":true}}',
        )
        standby = next(pod for pod in logs if pod != acting[0])
        wait_observed(kube, watched, "orders", logs[standby])
        assert "Handler 'wake'" in logs[standby].read_text()
    for log in logs.values():
        assert_no_forbidden(log)


def job_series(port: int, namespace: str, name: str) -> list[str]:
    """The syncjob_phase lines a replica serves for one job."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.TransportError:
        return ["(metrics not served yet)"]
    return [
        line
        for line in text.splitlines()
        if line.startswith("syncjob_phase{")
        and f'namespace="{namespace}"' in line
        and f'name="{name}"' in line
    ]


def test_a_replica_that_steps_down_stops_reporting_its_jobs(
    kube: Kube, helm: Path, tmp_path: Path
) -> None:
    """Kopf peering hands the work to a replica of higher priority: the one that
    stepped down stops its daemons, and must stop reporting the job too, or
    Prometheus counts it twice."""
    watched, sa_config = install_watching_one_namespace(kube, helm, tmp_path)
    create_workload_syncjob(kube, tmp_path, watched, "orders")
    args = ["--namespace", watched, "--peering", "syncjob-operator"]
    low_port, high_port = free_port(), free_port()
    low_log, high_log = tmp_path / "low.log", tmp_path / "high.log"
    with operator_process(
        sa_config, [*args, "--priority", "10"], low_log, pod_id="low", metrics_port=low_port
    ):
        wait_observed(kube, watched, "orders", low_log)

        def reported(port: int) -> bool:
            lines = job_series(port, watched, "orders")
            return any(line.endswith(" 1.0") for line in lines)

        wait_until("the acting replica reports the job", lambda: reported(low_port), low_log)
        with operator_process(
            sa_config, [*args, "--priority", "100"], high_log, pod_id="high", metrics_port=high_port
        ):
            wait_until("the new replica reports the job", lambda: reported(high_port), high_log)
            wait_until(
                "the replica that stepped down forgets the job",
                lambda: job_series(low_port, watched, "orders") == [],
                low_log,
            )
    for log in (low_log, high_log):
        assert_no_forbidden(log)


def wait_until(what: str, predicate: Callable[[], object], log: Path) -> None:
    polling.wait_for(
        what,
        predicate,
        timeout=WAIT,
        interval=0.5,
        detail=lambda: log.read_text(errors="replace")[-4000:],
    )
