"""A control plane for a fleet of SyncJobs, and the operator as the chart runs it.

Why this exists: the scale bench and the memory bench both need a control
plane of their own (kwok plays the kubelet of enough fake nodes for every
Pod), the chart installed, and the operator run with the chart's settings,
flags and ServiceAccount, so what they measure is what a user would run.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.env import chart, controlplane, processes
from tests.helpers import scale
from tests.helpers.kube import Kube
from tests.helpers.operator import OPERATOR_NAMESPACE, OperatorProcess

PEERING = "syncjob-operator"


@dataclass
class Plane:
    plane: controlplane.ControlPlane
    kube: Kube
    api: scale.Api
    operator_kubeconfig: Path
    operator_user: str
    tmp: Path


@contextlib.contextmanager
def fleet_plane(tmp: Path, pods: int) -> Iterator[Plane]:
    """A control plane of its own (a kwok node per 110 of ``pods``, and a spare), the chart in."""
    cp = controlplane.ControlPlane(state=tmp / "controlplane")
    controlplane.build()
    nodes = math.ceil(pods / controlplane.PODS_PER_NODE) + 1
    cp.start(nodes=nodes, controllers_qps=200)
    try:
        kube = Kube(kubeconfig=cp.kubeconfig)
        api = scale.Api(cp.kubeconfig)
        kube.wait_for(
            f"{nodes} kwok nodes Ready",
            lambda: (
                kube.kubectl(
                    "get",
                    "nodes",
                    "-o",
                    "jsonpath={.items[*].status.conditions[?(@.type=='Ready')].status}",
                    check=False,
                ).stdout.split()
                == ["True"] * nodes
            ),
            timeout=120,
        )
        user = chart.install(
            kube, chart.helm_binary(), tmp, namespace=OPERATOR_NAMESPACE, values={}
        )
        sa = chart.service_account_kubeconfig(
            kube, namespace=OPERATOR_NAMESPACE, path=tmp / "sa-kubeconfig"
        )
        yield Plane(cp, kube, api, sa, user, tmp)
        api.close()
    finally:
        cp.stop()


def spawn_until_running(
    p: Plane,
    log: Path,
    watch: scale.Collection,
    names: list[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> tuple[OperatorProcess, int, float]:
    """The shipped operator spawned, once every job of ``names`` is Running: it, its pid, the wait.

    The caller stops it; if the jobs never get there, it is stopped here.
    """
    op = shipped_operator(p, log, env=env)
    started = time.perf_counter()
    op.start()
    try:
        assert op.process is not None and op.process.pid
        at = watch.wait(
            f"{log.stem}: every job Running",
            scale.phase_is("Running"),
            names=names,
            timeout=timeout,
        )
    except BaseException:
        op.stop()
        raise
    return op, op.process.pid, at - started


def shipped_operator(p: Plane, log: Path, env: Mapping[str, str] | None = None) -> OperatorProcess:
    """The operator as the chart runs it: its settings, its flags, its identity."""
    return OperatorProcess(
        kube=p.kube,
        log=log,
        args=(f"--peering={PEERING}",),
        settings={},
        env={
            "KUBECONFIG": str(p.operator_kubeconfig),
            "SYNCJOB_LOG_FORMAT": "json",
            # DEBUG shows each pass's time split (observe, act, status): where a storm's time goes.
            "SYNCJOB_LOG_LEVEL": os.environ.get("SCALE_OPERATOR_LOG_LEVEL", "INFO"),
            # The chart's ports are 8080/8081; any free ones serve the same.
            "SYNCJOB_METRICS_PORT": str(processes.free_port()),
            "SYNCJOB_HEALTH_PORT": str(processes.free_port()),
            **(env or {}),
        },
    )
