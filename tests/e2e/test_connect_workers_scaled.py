"""The Connect workers are the very workload the SyncJob scales to zero.

A common production setup: spec.connect reaches the Connect workers and
spec.workloads names the workers' own Deployment.  The operator pauses the
connectors through REST, then scales the workers to 0; while they are at zero
Connect cannot answer, and that is neither an error nor a reason to rewrite
status.  On resume the workers come back first, then the connectors resume.

Real PostgreSQL, Kafka, Connect with Debezium and FerretDB, a real control
plane; the Deployment's Pods are kwok's.  That those Pods *are* the Connect
worker is played by the test, through a fault proxy in front of the real one.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.env import pipeline
from tests.env.faultproxy import Mode, ThreadedFaultProxy
from tests.helpers.jobs import (
    Job,
    all_in,
    patch_paused,
    status,
    syncjob_for,
    wait_phase,
)
from tests.helpers.kube import KUBECTL, Kube
from tests.helpers.manifests import deployment
from tests.helpers.operator import OperatorProcess
from tests.helpers.status import condition, converged, told_the_way

WORKERS = "connect-workers"


class StatusHistory:
    """Every version of one SyncJob the API server showed (a kubectl watch), to look back on."""

    def __init__(self, kube: Kube, job: Job, path: Path) -> None:
        self.path = path
        with path.open("wb") as out, path.with_suffix(".err").open("wb") as err:
            self.proc = subprocess.Popen(
                [KUBECTL, "get", "syncjob", job.name, "-n", job.namespace, "-w", "-o", "json"],
                stdout=out,
                stderr=err,
                env={**os.environ, **kube.env, "KUBECONFIG": str(kube.kubeconfig)},
            )

    def versions(self) -> list[dict[str, Any]]:
        text, decoder, at, seen = self.path.read_text(), json.JSONDecoder(), 0, []
        while (at := len(text) - len(text[at:].lstrip())) < len(text):
            try:
                obj, at = decoder.raw_decode(text, at)
            except json.JSONDecodeError:
                break  # the last object is still being written
            seen.append(obj)
        return seen

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def workers(kube: Kube, job: Job) -> dict[str, Any]:
    obj = kube.get("deployment", WORKERS, job.namespace)
    assert obj is not None
    return obj


def workers_ready(kube: Kube, job: Job, replicas: int) -> bool:
    d = workers(kube, job)
    return bool(
        d["spec"]["replicas"] == replicas
        and d["status"].get("replicas", 0) == replicas
        and d["status"].get("readyReplicas", 0) == replicas
    )


# Ready=False with one of these reasons is a transition under way, not an error.
ON_THE_WAY = ("Pausing", "Paused", "Resuming", "Running", "Reconciling")


def errors_in(version: dict[str, Any]) -> list[dict[str, Any]]:
    """Conditions saying something is wrong: Ready=False for an error, or Stalled=True."""
    ready, stalled = condition(version, "Ready"), condition(version, "Stalled")
    bad = [c for c in (ready,) if c and c["status"] == "False" and c["reason"] not in ON_THE_WAY]
    return bad + [c for c in (stalled,) if c and c["status"] == "True"]


def summary(version: dict[str, Any]) -> str:
    """One line per SyncJob version: phase, Ready, the workers, the connectors."""
    s, ready = version.get("status") or {}, condition(version, "Ready") or {}
    w = [
        (x.get("replicas"), x.get("readyReplicas"), x.get("savedReplicas"))
        for x in s.get("workloads", [])
    ]
    c = [(x["state"], len(x.get("tasks") or [])) for x in s.get("connectors", [])]
    return (
        f"rv={version['metadata']['resourceVersion']} {s.get('phase')} "
        f"Ready={ready.get('status')}/{ready.get('reason')} "
        f"workers(replicas,ready,saved)={w} connectors(state,tasks)={c}"
    )


def settled(kube: Kube, job: Job, phase: str) -> dict[str, Any] | None:
    """The SyncJob once it reports ``phase`` for its current generation with Ready=True."""
    obj = converged(kube, job.namespace, job.name, phase)
    return obj if (condition(obj, "Ready") or {}).get("status") == "True" else None


def test_connect_workers_at_zero_are_not_an_error(
    kube: Kube,
    operator: OperatorProcess,
    new_job: Any,
    e2e_pipeline: pipeline.Pipeline,
    tmp_path: Path,
) -> None:
    """Pause scales the real Connect workers' Deployment to 0; resume brings it back.

    The test plays the kubelet for the real Connect worker: when the
    Deployment is scaled to 0 it makes the proxy REFUSE (the workers are
    gone); when the Deployment has its replicas Ready again (and the operator
    has seen them Ready, as a Service's endpoints lag) it makes it PASS.
    """
    job: Job = new_job(rows=10)
    kube.apply(deployment(WORKERS, 2), namespace=job.namespace)
    kube.wait_for("2 workers Ready", lambda: workers_ready(kube, job, 2), timeout=60)
    upstream = int(e2e_pipeline.connect.url.rsplit(":", 1)[1])
    with ThreadedFaultProxy("127.0.0.1", upstream) as proxy:
        spec = syncjob_for(
            job, workloads=[{"apiVersion": "apps/v1", "kind": "Deployment", "name": WORKERS}]
        )
        spec["spec"]["connect"]["url"] = proxy.url
        kube.apply(spec, namespace=job.namespace)
        kube.wait_for("10 documents", lambda: job.collection.count_documents({}) == 10, timeout=90)
        kube.wait_for("stage CDC", lambda: status(kube, job).get("stage") == "CDC", timeout=60)
        wait_phase(kube, job, "Running")
        history = StatusHistory(kube, job, tmp_path / "syncjob-versions.json")
        try:
            # 1. Pause: connectors PAUSED first, then the workers go to 0.
            patch_paused(kube, job, True)

            def connectors_when_scaled_to_zero() -> dict[str, Any] | None:
                if workers(kube, job)["spec"]["replicas"] != 0:
                    return None
                return {n: job.connect_status(n) for n in (job.source, job.sink)}  # real Connect

            at_zero = kube.wait_for("workers at 0", connectors_when_scaled_to_zero, timeout=60)
            proxy.set_mode(Mode.REFUSE)  # the workers are gone
            for name, seen in at_zero.items():
                assert all_in(seen, "PAUSED"), f"{name} when the workers were scaled to 0: {seen}"

            def paused_without_workers() -> dict[str, Any] | None:
                obj = settled(kube, job, "Paused")
                s = (obj or {}).get("status") or {}
                # No worker answers: the connectors are shown paused, with no tasks running.
                gone = s.get("workloads", [{}])[0].get("replicas") == 0 and all(
                    c["state"] == "PAUSED" and not c.get("tasks") for c in s.get("connectors", [])
                )
                return obj if gone else None

            paused = kube.wait_for("Paused, workers gone", paused_without_workers, timeout=60)
            assert paused["status"]["workloads"][0]["savedReplicas"] == 2
            assert condition(paused, "Paused")["status"] == "True"  # type: ignore[index]
            assert not errors_in(paused), paused["status"]

            # 2. Paused and refused for ~5 resyncs (2 s): no status written, nothing flows.
            before_rows = job.sink_rows()
            job.sql(
                f"INSERT INTO {job.table} SELECT g, 'late-' || g, g FROM generate_series(11, 20) g"
            )
            time.sleep(10)
            after = kube.get("syncjob", job.name, job.namespace)
            assert after is not None
            assert after["metadata"]["resourceVersion"] == paused["metadata"]["resourceVersion"], (
                f"status rewritten while paused:\nbefore: {paused['status']}\n"
                f"after:  {after['status']}"
            )
            assert job.sink_rows() == before_rows, "rows reached the sink while paused"

            # 3. Resume: the workers come back to 2, then the connectors resume.
            patch_paused(kube, job, False)
            kube.wait_for("2 workers Ready", lambda: workers_ready(kube, job, 2), timeout=60)
            # A Service's endpoints follow Ready with a lag: the operator may see the Pods
            # Ready before a worker is reachable.  Play that out: PASS once it has seen them.
            kube.wait_for(
                "the operator to see 2 Ready workers",
                lambda: status(kube, job)["workloads"][0].get("readyReplicas") == 2,
                timeout=30,
            )
            proxy.set_mode(Mode.PASS)  # the workers answer again
            running = kube.wait_for("Running", lambda: settled(kube, job, "Running"), timeout=90)
            for name in (job.source, job.sink):
                kube.wait_for(
                    f"{name} RUNNING", lambda n=name: all_in(job.connect_status(n), "RUNNING")
                )
            want = job.source_rows()
            kube.wait_for("the sink to match", lambda: job.sink_rows() == want, timeout=90)
            assert len(want) == 20
            assert workers(kube, job)["spec"]["replicas"] == 2
            assert running["status"]["workloads"][0].get("savedReplicas") is None
        finally:
            history.stop()

    messages = [e["message"] for e in kube.events(job.namespace, job.name)]
    assert told_the_way(messages, "Running", "Pausing", "Paused"), messages
    assert told_the_way(messages, "Paused", "Resuming", "Running"), messages
    versions = history.versions()
    assert len(versions) >= 3, versions
    assert not any(errors_in(v) for v in versions), (
        "error conditions while the workers were scaled down or coming back:\n"
        + "\n".join(map(summary, versions))
    )
