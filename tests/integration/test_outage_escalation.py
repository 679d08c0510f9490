"""A backend that stays down is an alert, not an endless "retrying".

Transient failures (Connect refusing connections, 5xx, timeouts) leave a job
Reconciling while the operator retries with backoff; past
``SYNCJOB_STALL_AFTER`` they make it Stalled (kstatus: Failed; Argo CD:
Degraded) with a Warning Event that says for how long.  The test needs an
operator with a short bound and no other operator beside it, so it runs on a
control plane of its own (a second real kube-apiserver and etcd, ~4 s): the
session's operator watches every namespace of the shared one.  The operator
runs with the Helm chart's ServiceAccount token there too, so this also
proves the chart's RBAC is enough for a stalled job's status and Events.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.env import chart
from tests.env.processes import free_port
from tests.helpers.kube import Kube
from tests.helpers.manifests import syncjob
from tests.helpers.operator import OPERATOR_NAMESPACE, OperatorProcess
from tests.helpers.paths import CRD
from tests.helpers.status import condition

pytestmark = pytest.mark.integration


@pytest.fixture
def lone_kube(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Kube]:
    if request.config.getoption("--kind"):
        pytest.skip("needs a control plane of its own; runs on the local one")
    from tests.env import controlplane

    plane = controlplane.ControlPlane(state=tmp_path / "controlplane")
    plane.start(with_nodes=False)
    try:
        kube = Kube(kubeconfig=plane.kubeconfig)
        kube.apply(CRD.read_text())
        kube.kubectl(
            "wait", "--for=condition=Established", "crd/syncjobs.syncjob.dev", "--timeout=60s"
        )
        yield kube
    finally:
        plane.stop()


def closed_port() -> int:
    """A port nothing listens on, and that refuses at once (not a timeout)."""
    port = free_port()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    return port


def test_connect_down_past_the_bound_is_stalled_with_an_event(
    lone_kube: Kube, helm: Path, tmp_path: Path
) -> None:
    kube = lone_kube
    kube.kubectl("create", "namespace", "sales")
    chart.install(kube, helm, tmp_path, namespace=OPERATOR_NAMESPACE, values={})
    credentials = chart.service_account_kubeconfig(
        kube, namespace=OPERATOR_NAMESPACE, path=tmp_path / "operator-kubeconfig"
    )
    operator = OperatorProcess(
        kube=kube,
        log=tmp_path / "operator.log",
        env={
            "KUBECONFIG": str(credentials),
            "SYNCJOB_STALL_AFTER": "4",
            "SYNCJOB_LOG_FORMAT": "json",
        },
    )
    operator.start()
    try:
        connect = {"url": f"http://127.0.0.1:{closed_port()}", "connectors": ["orders-source"]}
        kube.apply(syncjob("orders", {"connect": connect}), namespace="sales")

        def stalled_as(status: str) -> dict[str, Any] | None:
            obj = kube.get("syncjob", "orders", "sales")
            ready, stalled = condition(obj, "Ready"), condition(obj, "Stalled")
            if ready and ready["reason"] == "ConnectUnreachable" and stalled:
                return obj if stalled["status"] == status else None
            return None

        # First: retrying, not Stalled (the job may come back by itself).
        retrying = kube.wait_for("Ready=False/ConnectUnreachable", lambda: stalled_as("False"))
        assert condition(retrying, "Reconciling")["status"] == "True"  # type: ignore[index]

        # Then, past 4 s of it: Stalled, saying for how long, with one Warning Event.
        stalled = kube.wait_for("Stalled=True", lambda: stalled_as("True"), timeout=30)
        c = condition(stalled, "Stalled")
        assert c is not None and c["reason"] == "ConnectUnreachable", c
        assert "(for " in c["message"] and "s)" in c["message"], c
        # Nothing was ever observed: no phase is made up.
        assert "phase" not in stalled["status"], stalled["status"]

        def warning() -> list[dict[str, Any]]:
            return [
                e
                for e in kube.events("sales", "orders")
                if e["reason"] == "ConnectUnreachable" and e["type"] == "Warning"
            ]

        events = kube.wait_for("a Warning Event", warning, timeout=30)
        assert len(events) == 1 and events[0].get("count", 1) == 1, events
        assert "(for " in events[0]["message"], events
    finally:
        operator.stop()
