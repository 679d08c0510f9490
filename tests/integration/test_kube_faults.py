"""Kubernetes faults during storms, and a failover by kill -9: no patch lost.

Storms of scale jobs (Deployments on kwok with 0, 1 and 3 replicas;
tests/helpers/storm.py) while the operator's connection to kube-apiserver is
cut (the fault proxy in front of the API server, in the operator's
kubeconfig: its watches and requests break, new ones are dropped, then
refused), while kube-apiserver itself restarts, and while the acting one of
two replicas in a Kopf peering is SIGKILLed.  The user's patches made
meanwhile must all be carried out: every Deployment at its count, every
SyncJob at its phase.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.env import controlplane
from tests.env.faultproxy import Mode, ThreadedFaultProxy
from tests.helpers import storm
from tests.helpers.kube import Kube
from tests.helpers.operator import OperatorProcess, own_operator, stood_down
from tests.helpers.polling import wait_for

JOBS = 24
PEERING = "syncjob-operator"  # the chart's ClusterKopfPeering (the session's install)


@pytest.fixture
def api(kube: Kube) -> Iterator[storm.Api]:
    client = storm.Api(kube)
    yield client
    client.close()


def proxied_kubeconfig(kubeconfig: Path, port: int, path: Path) -> Path:
    """The same credentials, through 127.0.0.1:``port`` (TLS passes through the proxy)."""
    config = json.loads(kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://127.0.0.1:{port}"
    path.write_text(json.dumps(config))
    return path


def test_cut_watch_and_apiserver_restart_lose_no_patch(
    kube: Kube,
    control_plane: controlplane.ControlPlane,
    operator: OperatorProcess,
    namespace: str,
    api: storm.Api,
    tmp_path: Path,
) -> None:
    jobs = storm.plan(JOBS, kinds=("scale",), prefix="kf")
    storm.ensure_nodes(api, pods=sum(j.replicas or 0 for j in jobs))
    names = [job.name for job in jobs]
    with (
        stood_down(operator),
        ThreadedFaultProxy("127.0.0.1", control_plane.api_port) as proxy,
    ):
        config = proxied_kubeconfig(
            Path(operator.env["KUBECONFIG"]), proxy.port, tmp_path / "proxied.kubeconfig"
        )
        op = own_operator(
            operator, tmp_path / "operator.log",
            env={"KUBECONFIG": str(config)},
        )  # fmt: skip
        op.start()
        try:
            storm.create(api, namespace, jobs)
            wanted = {name: False for name in names}
            storm.wait_converged(api, None, namespace, jobs, wanted, timeout=90, detail=op.tail)

            # A pause storm; the connection cut in the middle of it; while cut,
            # half the jobs are resumed again (the operator cannot see that).
            wanted = {name: True for name in names}
            storm.set_paused(api, namespace, wanted)
            time.sleep(1)
            proxy.set_mode(Mode.DROP)  # open connections reset, new requests dropped
            wanted = {name: i % 2 == 1 for i, name in enumerate(names)}
            storm.set_paused(api, namespace, {n: p for n, p in wanted.items() if not p})
            time.sleep(3)
            proxy.set_mode(Mode.REFUSE)
            time.sleep(3)
            proxy.set_mode(Mode.PASS)
            cut = time.monotonic()
            times = storm.wait_converged(
                api, None, namespace, jobs, wanted, timeout=90, since=cut, detail=op.tail
            )
            print(f"\n[cut watch] converged after the cut healed: {storm.summary(times)}")

            # A storm flipping every job; kube-apiserver killed and restarted
            # as soon as the patches are in, with the operator's work under way.
            wanted = {name: not paused for name, paused in wanted.items()}
            storm.set_paused(api, namespace, wanted)
            left = len(storm.mismatches(api, None, namespace, jobs, wanted))
            killed = time.monotonic()
            control_plane.restart_apiserver(kill=True)
            back = time.monotonic() - killed
            times = storm.wait_converged(
                api, None, namespace, jobs, wanted, timeout=90, since=killed, detail=op.tail
            )
            print(
                f"[apiserver restart] {left} of {len(jobs)} jobs left when it was killed; "
                f"ready again {back:.1f}s after the kill; converged from the kill: "
                f"{storm.summary(times)}"
            )
            assert op.proc is not None and op.proc.poll() is None, op.tail()
        finally:
            op.stop()


def _peers(kube: Kube) -> dict[str, object]:
    out = kube.kubectl("get", "clusterkopfpeering", PEERING, "-o", "json")
    return dict(json.loads(out.stdout).get("status") or {})


def test_kill_9_of_the_acting_replica_mid_storm(
    kube: Kube, operator: OperatorProcess, namespace: str, api: storm.Api, tmp_path: Path
) -> None:
    """Two replicas in the chart's peering; the acting one (higher priority) is
    SIGKILLed in the middle of a pause storm: the standby takes over once the
    dead one's lease runs out (Kopf's peering lifetime) and finishes it."""
    jobs = storm.plan(JOBS, kinds=("scale",), prefix="ha")
    storm.ensure_nodes(api, pods=sum(j.replicas or 0 for j in jobs))
    names = [job.name for job in jobs]
    with stood_down(operator):
        acting, standby = (
            own_operator(
                operator,
                tmp_path / f"{pod}.log",
                # --verbose: every handler run is logged, which shows who acts.
                args=("--verbose", f"--peering={PEERING}", f"--priority={priority}"),
                env={"POD_ID": pod},
            )
            for pod, priority in (("ha-acting", 200), ("ha-standby", 100))
        )
        acting.start()
        try:
            standby.start()
            wait_for(
                "both replicas in the peering",
                lambda: {"ha-acting", "ha-standby"} <= set(_peers(kube)),
                timeout=60,
            )
            storm.create(api, namespace, jobs)
            wanted = {name: False for name in names}
            storm.wait_converged(api, None, namespace, jobs, wanted, timeout=90, detail=acting.tail)
            assert "Handler 'wake'" in acting.log.read_text()
            assert "Handler 'wake'" not in standby.log.read_text(), "both replicas acted"

            wanted = {name: True for name in names}
            storm.set_paused(api, namespace, wanted)
            time.sleep(random.uniform(0.2, 2.0))
            acting.stop(kill=True)
            killed = time.monotonic()
            half_done = len(storm.mismatches(api, None, namespace, jobs, wanted))
            times = storm.wait_converged(
                api, None, namespace, jobs, wanted, timeout=110, since=killed,
                detail=standby.tail,
            )  # fmt: skip
            print(
                f"\n[failover] {half_done} of {len(jobs)} jobs left when the acting replica "
                f"was killed; converged after the kill: {storm.summary(times)}"
            )
            assert "Handler 'wake'" in standby.log.read_text()
            assert standby.proc is not None and standby.proc.poll() is None
        finally:
            standby.stop()
            acting.stop()
