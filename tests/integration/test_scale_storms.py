"""Thirty SyncJobs paused and resumed at once with the scale backend: every count exact.

The short version of the scale bench (tests/bench/test_scale_bench.py) for
``make test``: one storm of ``spec.paused`` patches, then another, against
the session operator, on the real control plane (kwok plays the kubelet).
Replica counts of 1, 2, 3 and 0 (a job whose Deployment was at zero must
come back at zero).  No time is asserted: only that every job converges and
every Deployment is at exactly its count, Pods Ready.
"""

from __future__ import annotations

from tests.env import controlplane
from tests.helpers import manifests, scale
from tests.helpers.kube import Kube
from tests.helpers.operator import OperatorProcess

JOBS = 30
REPLICAS = (1, 2, 3, 0)
TIMEOUT_S = 60.0


def test_storms_of_thirty_scale_jobs(kube: Kube, operator: OperatorProcess, namespace: str) -> None:
    # Room for these Pods beside the other tests' (a kwok node takes 110).
    kube.apply(controlplane.fake_node("kwok-node-storms"))
    api = scale.Api(kube.kubeconfig)
    counts = {f"wl-{i:02d}": REPLICAS[i % len(REPLICAS)] for i in range(JOBS)}
    jobs = {f"job-{i:02d}": f"wl-{i:02d}" for i in range(JOBS)}
    deps = scale.Collection(api, scale.deployments_path(namespace)).start()
    watch = scale.Collection(api, scale.syncjobs_path(namespace)).start()
    try:
        scale.create_all(
            api,
            scale.deployments_path(namespace),
            [manifests.deployment(d, n) for d, n in counts.items()],
        )
        for d, n in counts.items():
            deps.wait(f"{d} at {n}", scale.replicas_are(n), names=[d], timeout=TIMEOUT_S)
        scale.create_all(
            api,
            scale.syncjobs_path(namespace),
            [scale.scale_job(j, d) for j, d in jobs.items()],
        )
        watch.wait("every job Running", scale.phase_is("Running"), names=jobs, timeout=TIMEOUT_S)

        generations = scale.patch_paused_all(api, namespace, list(jobs), True)
        watch.wait(
            "every job Paused", scale.phase_is("Paused", generations), names=jobs, timeout=TIMEOUT_S
        )
        deps.wait("every Deployment at 0", scale.replicas_are(0), names=counts, timeout=TIMEOUT_S)
        saved = {
            ref["name"]: ref.get("savedReplicas")
            for obj in watch.objects.values()
            for ref in obj["status"].get("workloads") or []
        }
        assert saved == counts

        generations = scale.patch_paused_all(api, namespace, list(jobs), False)
        watch.wait(
            "every job Running",
            scale.phase_is("Running", generations),
            names=jobs,
            timeout=TIMEOUT_S,
        )
        for d, n in counts.items():
            deps.wait(f"{d} back at {n}", scale.replicas_are(n), names=[d], timeout=TIMEOUT_S)
        assert {d: o["spec"]["replicas"] for d, o in deps.objects.items()} == counts
    finally:
        watch.stop()
        deps.stop()
        api.close()
