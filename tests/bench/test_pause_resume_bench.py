"""Benchmark: how fast a pause and a resume go through the operator, against the floor.

The operator's round trip: from the ``spec.paused`` patch (one HTTP PATCH to
the real API server) to the SyncJob's status saying ``Paused`` (every
connector and task verified PAUSED by the operator) for this generation, as a
watch on the SyncJob delivers it; and back to ``Running``.

The floor, measured in the same run against the same connectors: a minimal
script that PUTs /pause on each connector and polls GET /status every 10 ms
until the connector and every task are PAUSED (and /resume, RUNNING).

A second floor, the Kubernetes half: with the operator stopped, a bare
controller answers each spec patch, as its watch delivers it, with one
status patch, and the user's watch delivers that status.  The operator
cannot go below the sum of the two floors; the ratio against that sum says
how much of the rest is the operator's own.

Prints p50 and p95 of each and their ratio.  No assertion on time: a
benchmark measures, it does not judge (``make bench``).
"""

from __future__ import annotations

import json
import queue
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from tests.env import pipeline
from tests.helpers.jobs import Job, status, syncjob_for, wait_phase
from tests.helpers.kube import Kube, patch_spec
from tests.helpers.operator import OperatorProcess

CYCLES = 20


class ApiServer:
    """A bare HTTP client for the API server (token from the test kubeconfig)."""

    def __init__(self, kube: Kube) -> None:
        config = yaml.safe_load(kube.kubeconfig.read_text())
        server = config["clusters"][0]["cluster"]["server"]
        token = config["users"][0]["user"]["token"]
        self.http = httpx.Client(
            base_url=server,
            verify=False,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def path(self, job: Job) -> str:
        return f"/apis/syncjob.dev/v1alpha1/namespaces/{job.namespace}/syncjobs/{job.name}"

    def patch_paused(self, job: Job, paused: bool) -> int:
        r = self.http.patch(
            self.path(job),
            content=json.dumps({"spec": {"paused": paused}}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        r.raise_for_status()
        return int(r.json()["metadata"]["generation"])

    def watch(
        self, job: Job, sink: queue.Queue[tuple[float, dict[str, Any]]], stop: threading.Event
    ) -> None:
        obj = self.http.get(self.path(job)).json()
        rv = obj["metadata"]["resourceVersion"]
        url = (
            f"/apis/syncjob.dev/v1alpha1/namespaces/{job.namespace}/syncjobs"
            f"?watch=1&fieldSelector=metadata.name%3D{job.name}&resourceVersion={rv}"
            "&timeoutSeconds=600"
        )
        with self.http.stream("GET", url, timeout=None) as response:
            for line in response.iter_lines():
                if stop.is_set():
                    return
                if line:
                    sink.put((time.perf_counter(), json.loads(line)["object"]))


def wait_event(
    events: queue.Queue[tuple[float, dict[str, Any]]],
    *,
    phase: str,
    generation: int,
    timeout: float = 60,
) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            at, obj = events.get(timeout=1)
        except queue.Empty:
            continue
        st = obj.get("status") or {}
        if st.get("phase") == phase and st.get("observedGeneration") == generation:
            return at
    raise TimeoutError(f"no {phase} for generation {generation} within {timeout}s")


def floor_round_trip(connect: httpx.Client, names: list[str], verb: str, state: str) -> float:
    started = time.perf_counter()
    for name in names:
        connect.put(f"/connectors/{name}/{verb}").raise_for_status()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = True
        for name in names:
            body = connect.get(f"/connectors/{name}/status").json()
            states = [body["connector"]["state"]] + [t["state"] for t in body["tasks"]]
            if not body["tasks"] or any(s != state for s in states):
                done = False
                break
        if done:
            return time.perf_counter() - started
        time.sleep(0.01)
    raise TimeoutError(f"connectors not {state}")


def kube_floor_half(api: ApiServer, job: Job, events: Any, *, paused: bool, phase: str) -> float:
    """The Kubernetes half of a transition, by a bare controller, with no operator running.

    What the operator cannot do without: the spec patch reaches a watch, a
    status patch answers it, and the user's watch delivers that status.
    """
    started = time.perf_counter()
    generation = api.patch_paused(job, paused)
    while True:
        _, obj = events.get(timeout=30)
        if obj["metadata"].get("generation") == generation:
            break
    r = api.http.patch(
        api.path(job) + "/status",
        content=json.dumps({"status": {"phase": phase, "observedGeneration": generation}}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    r.raise_for_status()
    return wait_event(events, phase=phase, generation=generation) - started


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@pytest.fixture
def job(kube: Kube, new_job: Any) -> Iterator[Job]:
    j: Job = new_job(rows=10)
    kube.apply(syncjob_for(j), namespace=j.namespace)
    kube.wait_for("stage CDC", lambda: status(kube, j).get("stage") == "CDC", timeout=90)
    wait_phase(kube, j, "Running")
    yield j


def test_pause_resume_round_trip(
    kube: Kube, operator: OperatorProcess, e2e_pipeline: pipeline.Pipeline, job: Job
) -> None:
    api = ApiServer(kube)
    events: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
    stop = threading.Event()
    watcher = threading.Thread(target=api.watch, args=(job, events, stop), daemon=True)
    watcher.start()
    time.sleep(0.5)

    op_pause: list[float] = []
    op_resume: list[float] = []
    for _ in range(CYCLES):
        for paused, phase, into in ((True, "Paused", op_pause), (False, "Running", op_resume)):
            started = time.perf_counter()
            generation = api.patch_paused(job, paused)
            into.append(wait_event(events, phase=phase, generation=generation) - started)
            time.sleep(0.3)  # let the worker settle, as a person would between clicks

    # The Kubernetes floor: the same object, the operator stopped, a bare
    # controller answering each spec patch with one status patch.
    operator.stop()
    kube_pause: list[float] = []
    kube_resume: list[float] = []
    for _ in range(CYCLES):
        kube_pause.append(kube_floor_half(api, job, events, paused=True, phase="Paused"))
        kube_resume.append(kube_floor_half(api, job, events, paused=False, phase="Running"))
    stop.set()
    operator.start()
    wait_phase(kube, job, "Running")

    # The floor: the same connectors, straight through the REST API.  The
    # SyncJob is deleted first with onDelete Leave so the operator stays out.
    patch_spec(kube, job.namespace, job.name, onDelete="Leave")
    kube.kubectl("delete", "syncjob", job.name, "-n", job.namespace, "--timeout=60s")
    connect = httpx.Client(base_url=e2e_pipeline.connect.url, timeout=30)
    names = [job.source, job.sink]
    floor_pause: list[float] = []
    floor_resume: list[float] = []
    for _ in range(CYCLES):
        floor_pause.append(floor_round_trip(connect, names, "pause", "PAUSED"))
        time.sleep(0.3)
        floor_resume.append(floor_round_trip(connect, names, "resume", "RUNNING"))
        time.sleep(0.3)

    op_cycle = [p + r for p, r in zip(op_pause, op_resume, strict=True)]
    floor_cycle = [p + r for p, r in zip(floor_pause, floor_resume, strict=True)]
    bare_pause = [k + f for k, f in zip(kube_pause, floor_pause, strict=True)]
    bare_resume = [k + f for k, f in zip(kube_resume, floor_resume, strict=True)]
    rows = [
        ("pause: operator (patch -> status Paused)", op_pause, floor_pause),
        ("resume: operator (patch -> status Running)", op_resume, floor_resume),
        ("round trip: pause and back", op_cycle, floor_cycle),
        ("pause against REST + kube floors", op_pause, bare_pause),
        ("resume against REST + kube floors", op_resume, bare_resume),
    ]
    print(f"\n{CYCLES} cycles, 2 connectors (Debezium PostgreSQL source, MongoDB sink)")
    print(
        f"{'':46} {'p50':>8} {'p95':>8}   {'floor p50':>9} {'floor p95':>9}   "
        f"{'ratio p50':>9} {'ratio p95':>9}"
    )
    for label, ours, floor in rows:
        print(
            f"{label:46} {pct(ours, 0.5) * 1000:7.0f}ms {pct(ours, 0.95) * 1000:7.0f}ms   "
            f"{pct(floor, 0.5) * 1000:8.0f}ms {pct(floor, 0.95) * 1000:8.0f}ms   "
            f"{pct(ours, 0.5) / pct(floor, 0.5):9.2f} {pct(ours, 0.95) / pct(floor, 0.95):9.2f}"
        )
    for label, values in (
        ("kube floor: pause (patch, watch, status patch)", kube_pause),
        ("kube floor: resume", kube_resume),
    ):
        print(f"{label:46} {pct(values, 0.5) * 1000:7.0f}ms {pct(values, 0.95) * 1000:7.0f}ms")
    print(
        f"mean operator pause {statistics.mean(op_pause) * 1000:.0f}ms, "
        f"mean floor pause {statistics.mean(floor_pause) * 1000:.0f}ms"
    )
    assert len(op_pause) == len(floor_pause) == CYCLES
