"""Many SyncJobs at once, flipped together, and checked against what the servers really do.

Why this exists: the fault tests (kill storms, Connect and Kubernetes faults,
failover) pause and resume tens to hundreds of jobs while something breaks,
then ask one question of every job: does the world match its spec?  Not the
operator's word for it: the Deployment's replica count and ready Pods, the
saved-replicas label gone once running, each connector and task as Kafka
Connect reports it, and the SyncJob's phase and Ready condition for its
current generation.

Three kinds of job, as a user runs them:

* ``scale``: a Deployment on kwok (replica counts 0, 1 and 3 in turn);
* ``connect``: one MongoDB sink connector on the real Connect worker (a
  cheap real plugin: a consumer on an empty topic and a Mongo client);
* ``mixed``: both: connectors quiesced first, then the Deployment scaled.

Everything goes through one bare HTTP client with the admin token (a list per
kind per check, a patch per job), not kubectl per object: at a hundred jobs
kubectl's start-up alone would be the bottleneck of the test.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import yaml

from tests.env import pipeline
from tests.env.connect import ConnectClient
from tests.helpers.kube import Kube

SAVED = "syncjob.dev/saved-replicas"
REPLICA_CYCLE = (0, 1, 3)
KINDS = ("scale", "connect", "mixed")
PODS_PER_NODE = 110  # what a kwok node of tests/env/controlplane.py allows


@dataclass(frozen=True)
class StormJob:
    """One job of a storm: its Deployment's running replica count and its connectors."""

    name: str
    replicas: int | None  # None: no workload
    connectors: tuple[str, ...]

    @property
    def workload(self) -> str:
        return f"{self.name}-w"


def plan(count: int, *, kinds: Iterable[str] = KINDS, prefix: str = "sj") -> list[StormJob]:
    """``count`` jobs, the kinds and replica counts in turn (so every mix is there)."""
    kinds = tuple(kinds)
    jobs = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        name = f"{prefix}-{i:03d}"
        replicas = REPLICA_CYCLE[(i // len(kinds)) % len(REPLICA_CYCLE)]
        jobs.append(
            StormJob(
                name=name,
                replicas=None if kind == "connect" else replicas,
                connectors=(f"{name}-sink",) if kind != "scale" else (),
            )
        )
    return jobs


class Api:
    """The API server over HTTP with the admin's token: lists and patches, nothing else."""

    def __init__(self, kube: Kube) -> None:
        config = yaml.safe_load(kube.kubeconfig.read_text())
        self.http = httpx.Client(
            base_url=config["clusters"][0]["cluster"]["server"],
            # The storms send from eight threads over this client, and a TLS
            # handshake among them failed once in a CI run (the API server
            # answered with a decode_error alert; httpcore sets the ALPN
            # protocols on the shared SSL context at every new connection,
            # a likely race).  A connection that could not be made carried
            # no request: the transport tries it again.
            transport=httpx.HTTPTransport(verify=False, retries=2),
            headers={"Authorization": f"Bearer {config['users'][0]['user']['token']}"},
            timeout=30,
        )

    def close(self) -> None:
        self.http.close()

    def items(self, path: str) -> list[dict[str, Any]]:
        r = self.http.get(path)
        r.raise_for_status()
        return list(r.json()["items"])

    def create(self, path: str, obj: Mapping[str, Any]) -> None:
        r = self.http.post(path, json=dict(obj))
        if r.status_code != 409:  # already there: a rerun of a setup step
            r.raise_for_status()

    def patch(self, path: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        r = self.http.patch(
            path,
            content=json.dumps(patch),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        r.raise_for_status()
        return dict(r.json())


def syncjobs_path(namespace: str) -> str:
    return f"/apis/syncjob.dev/v1alpha1/namespaces/{namespace}/syncjobs"


def deployments_path(namespace: str) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/deployments"


def ensure_nodes(api: Api, pods: int) -> None:
    """Enough kwok nodes for ``pods`` more Pods (kwok manages every node so annotated)."""
    for i in range(1, 1 + math.ceil(pods / PODS_PER_NODE)):
        name = f"kwok-node-storm-{i}"
        api.create(
            "/api/v1/nodes",
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {
                        "kwok.x-k8s.io/node": "fake",
                        "node.alpha.kubernetes.io/ttl": "0",
                    },
                    "labels": {"kubernetes.io/hostname": name, "type": "kwok"},
                },
                "status": {
                    "allocatable": {"cpu": "32", "memory": "256Gi", "pods": str(PODS_PER_NODE)},
                    "capacity": {"cpu": "32", "memory": "256Gi", "pods": str(PODS_PER_NODE)},
                },
            },
        )


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [{"name": "connect", "image": "registry.invalid/connect"}],
                    # A kwok Pod goes at once: nothing to wait for at scale-down.
                    "terminationGracePeriodSeconds": 0,
                },
            },
        },
    }


def create(
    api: Api,
    namespace: str,
    jobs: list[StormJob],
    *,
    p: pipeline.Pipeline | None = None,
    connect_url: str | None = None,
    request_timeout: str | Callable[[StormJob], str] = "5s",
    topic: str = "storm-empty",
) -> None:
    """Deployments, connectors (RUNNING, their tasks too) and SyncJobs, all running."""
    for job in jobs:
        if job.replicas is not None:
            api.create(deployments_path(namespace), _deployment(job.workload, job.replicas))
    connectors = [c for job in jobs for c in job.connectors]
    if connectors:
        assert p is not None, "connect jobs need the pipeline"
        for name in connectors:
            p.connect.put_connector(
                name,
                p.mongo_sink_config(topics=[topic], database="storm", collection=name),
            )
        for name in connectors:
            p.connect.wait_state(name, "RUNNING", timeout_s=120)
    for job in jobs:
        # Leave: the test deletes the connectors itself; a release would only wait on them.
        spec: dict[str, Any] = {"paused": False, "onDelete": "Leave"}
        if job.replicas is not None:
            spec["workloads"] = [
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": job.workload}
            ]
        if job.connectors:
            assert p is not None
            timeout = request_timeout(job) if callable(request_timeout) else request_timeout
            spec["connect"] = {
                "url": connect_url or p.connect.url,
                "connectors": list(job.connectors),
                "requestTimeout": timeout,
            }
        api.create(
            syncjobs_path(namespace),
            {
                "apiVersion": "syncjob.dev/v1alpha1",
                "kind": "SyncJob",
                "metadata": {"name": job.name},
                "spec": spec,
            },
        )


def delete_connectors(p: pipeline.Pipeline, jobs: list[StormJob]) -> None:
    for job in jobs:
        for name in job.connectors:
            p.connect.delete_connector(name)


def set_paused(api: Api, namespace: str, wanted: Mapping[str, bool]) -> None:
    """The README's merge patch of ``spec.paused``, for every job at once (8 at a time)."""
    base = syncjobs_path(namespace)

    def one(item: tuple[str, bool]) -> None:
        api.patch(f"{base}/{item[0]}", {"spec": {"paused": item[1]}})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, wanted.items()))


def _all_in(status: Mapping[str, Any], state: str) -> bool:
    tasks = status.get("tasks") or []
    states = [status["connector"]["state"], *(t["state"] for t in tasks)]
    return bool(tasks) and all(s == state for s in states)


def mismatches(
    api: Api,
    connect: ConnectClient | None,
    namespace: str,
    jobs: list[StormJob],
    wanted: Mapping[str, bool],
) -> dict[str, str]:
    """Every job whose world does not match its spec, with what is wrong (empty: all match)."""
    objs = {o["metadata"]["name"]: o for o in api.items(syncjobs_path(namespace))}
    deploys = {o["metadata"]["name"]: o for o in api.items(deployments_path(namespace))}
    states: dict[str, Any] = {}
    if connect is not None and any(job.connectors for job in jobs):
        r = connect.request("GET", "/connectors?expand=status", timeout=30)
        r.raise_for_status()
        states = {name: entry["status"] for name, entry in r.json().items()}
    wrong: dict[str, str] = {}
    for job in jobs:
        paused = wanted[job.name]
        problems = []
        obj = objs.get(job.name) or {}
        status = obj.get("status") or {}
        phase = "Paused" if paused else "Running"
        if obj.get("spec", {}).get("paused") is not paused:
            problems.append(f"spec.paused is {obj.get('spec', {}).get('paused')}")
        if status.get("phase") != phase:
            problems.append(f"phase {status.get('phase')}")
        if status.get("observedGeneration") != obj.get("metadata", {}).get("generation"):
            problems.append("generation not observed")
        ready: dict[str, Any] = next(
            (c for c in status.get("conditions") or [] if c["type"] == "Ready"), {}
        )
        if ready.get("status") != "True":
            problems.append(f"Ready={ready.get('status')}/{ready.get('reason')}")
        if job.replicas is not None:
            d = deploys.get(job.workload) or {}
            want = 0 if paused else job.replicas
            have = d.get("spec", {}).get("replicas")
            ready_pods = (d.get("status") or {}).get("readyReplicas", 0)
            metadata = d.get("metadata") or {}
            saved = (metadata.get("labels") or {}).get(SAVED) or (
                metadata.get("annotations") or {}
            ).get(SAVED)
            if have != want:
                problems.append(f"replicas {have} (want {want})")
            if ready_pods != want:
                problems.append(f"{ready_pods} ready Pods (want {want})")
            if not paused and saved is not None:
                problems.append(f"saved-replicas {saved} left on a running workload")
        for name in job.connectors:
            state = "PAUSED" if paused else "RUNNING"
            got = states.get(name)
            if got is None or not _all_in(got, state):
                seen = (
                    [got["connector"]["state"], *(t["state"] for t in got.get("tasks") or [])]
                    if got
                    else "missing"
                )
                problems.append(f"{name} {seen} (want {state})")
        if problems:
            wrong[job.name] = "; ".join(problems)
    return wrong


def wait_converged(
    api: Api,
    connect: ConnectClient | None,
    namespace: str,
    jobs: list[StormJob],
    wanted: Mapping[str, bool],
    *,
    timeout: float,
    since: float | None = None,
    detail: Callable[[], str] | None = None,
) -> dict[str, float]:
    """Wait until every job matches its spec; each job's time to match, from ``since``.

    A job's time is when it was first seen matching, polled every half second
    (so it is at most half a second late).  Fails after ``timeout`` with
    every job still wrong and what is wrong with it.
    """
    start = time.monotonic() if since is None else since
    deadline = time.monotonic() + timeout
    times: dict[str, float] = {}
    wrong: dict[str, str] = {}
    while time.monotonic() < deadline:
        now = time.monotonic()
        wrong = mismatches(api, connect, namespace, jobs, wanted)
        for job in jobs:
            if job.name not in wrong:
                times.setdefault(job.name, now - start)
        if not wrong:
            return times
        time.sleep(0.5)
    lines = "\n".join(f"  {name}: {why}" for name, why in sorted(wrong.items())[:40])
    raise AssertionError(
        f"{len(wrong)} of {len(jobs)} jobs not at their spec after {timeout:.0f}s:\n{lines}"
        + (f"\n{detail()}" if detail else "")
    )


def conditions_of(api: Api, namespace: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Each SyncJob's conditions by type."""
    return {
        o["metadata"]["name"]: {
            c["type"]: c for c in (o.get("status") or {}).get("conditions") or []
        }
        for o in api.items(syncjobs_path(namespace))
    }


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def summary(times: Mapping[str, float]) -> str:
    values = list(times.values())
    return (
        f"{len(values)} jobs: max {max(values):.1f}s, p95 {percentile(values, 0.95):.1f}s, "
        f"p50 {percentile(values, 0.5):.1f}s"
    )


class Killable(Protocol):
    """What a kill storm needs of an operator (tests.helpers.operator.OperatorProcess)."""

    def stop(self, *, kill: bool = False) -> None: ...

    def start(self) -> None: ...


def kill_storm(
    operator: Killable,
    api: Api,
    namespace: str,
    jobs: list[StormJob],
    *,
    kills: int,
    seed: int,
    kills_per_storm: int = 2,
    max_gap_s: float = 5.0,
) -> dict[str, bool]:
    """Storms of pauses and resumes, the operator SIGKILLed at random moments in them.

    Every ``kills_per_storm`` kills a new storm flips every job's
    ``spec.paused``, jobs of even and odd index in opposite directions, so
    each storm pauses half the jobs while it resumes the other half.  Each
    kill comes a random 0..``max_gap_s`` seconds after the last patch or
    restart (a kill right after a start lands before the operator has
    listed anything, a later one in the middle of its passes) and is
    followed at once by a restart.  Returns the spec every job ends with.
    """
    rng = random.Random(seed)
    wanted = {job.name: False for job in jobs}
    for kill in range(kills):
        if kill % kills_per_storm == 0:
            storm = kill // kills_per_storm
            wanted = {job.name: (i + storm) % 2 == 0 for i, job in enumerate(jobs)}
            set_paused(api, namespace, wanted)
        time.sleep(rng.uniform(0.0, max_gap_s))
        operator.stop(kill=True)
        operator.start()
    return wanted
