"""Many SyncJobs at once: bare API clients, watches that keep every object, storms, and figures.

Why this exists: the scale bench (tests/bench/test_scale_bench.py) and its
short versions in ``make test`` create hundreds of Deployments, connectors
and SyncJobs, patch them all at once, and wait until every one is where it
should be.  kubectl per object would measure kubectl; one watch per
collection sees every change as the API server sends it, so a wait costs
nothing while it waits, and the same watch counts the status writes.  The
bare "floor" scripts the bench compares the operator with use the same
clients, so both sides pay the same overheads.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from syncjob_operator.api import v1alpha1
from syncjob_operator.decide import plan, reconcile
from syncjob_operator.decide.observed import ConnectorState, ConnectState, Observed, TaskState
from syncjob_operator.decide.patch import merge_patch
from tests.env.connect import FILE_SOURCE_CLASS
from tests.helpers import manifests

# Concurrent requests of a bare script's storm: about what one client process
# keeps in flight against one API server (client-go's default QPS is far lower).
STORM_WORKERS = 16
MERGE = {"Content-Type": "application/merge-patch+json"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Api:
    """A bare HTTP client for the API server, with the token of ``kubeconfig``."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        server = config["clusters"][0]["cluster"]["server"]
        token = config["users"][0]["user"]["token"]
        self.http = httpx.Client(
            base_url=server,
            verify=False,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
            limits=httpx.Limits(max_connections=STORM_WORKERS * 2),
        )

    def request(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        content = json.dumps(body) if body is not None else None
        for attempt in (1, 2, 3):
            try:
                r = self.http.request(method, path, content=content, **kw)
                break
            except httpx.TransportError:
                # A connection the loaded API server dropped (seen once in
                # the start-up bench): the bench's own calls are reads and
                # merge patches, which another try cannot make wrong; POSTs
                # are not retried.
                if method == "POST" or attempt == 3:
                    raise
                time.sleep(0.5 * attempt)
        if r.status_code >= 400:
            raise AssertionError(f"{method} {path}: {r.status_code} {r.text[:300]}")
        return r.json() if r.content else None

    def close(self) -> None:
        self.http.close()


def deployments_path(ns: str, name: str = "") -> str:
    return f"/apis/apps/v1/namespaces/{ns}/deployments" + (f"/{name}" if name else "")


def syncjobs_path(ns: str, name: str = "") -> str:
    return f"/apis/syncjob.dev/v1alpha1/namespaces/{ns}/syncjobs" + (f"/{name}" if name else "")


def in_parallel(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    """``fn`` over ``items`` with :data:`STORM_WORKERS` threads; the first error is raised."""
    with ThreadPoolExecutor(STORM_WORKERS) as pool:
        return list(pool.map(fn, items))


@dataclass
class Collection:
    """Every object of one namespaced collection, kept current by a list and a watch.

    ``changes`` counts MODIFIED events, ``status_changes`` those whose
    ``status`` differs from the one before: the status writes that changed
    something (an unchanged write makes no event: the API server drops it).
    """

    api: Api
    path: str
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    changes: int = 0
    status_changes: int = 0
    # (time.time(), name, object) of every event, when ``record`` is set:
    # the bench's per-job timelines.
    record: bool = False
    history: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _client: httpx.Client | None = None

    def start(self) -> Collection:
        self._client = httpx.Client(
            base_url=self.api.http.base_url, headers=self.api.http.headers, verify=False
        )
        rv = self._relist()
        self._thread = threading.Thread(target=self._run, args=(rv,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._client is not None:
            self._client.close()

    def _relist(self) -> str:
        assert self._client is not None
        body = self._client.get(self.path, timeout=60).raise_for_status().json()
        with self._cond:
            self.objects = {o["metadata"]["name"]: o for o in body["items"]}
            self._cond.notify_all()
        return str(body["metadata"]["resourceVersion"])

    def _run(self, rv: str) -> None:
        assert self._client is not None
        while not self._stop.is_set():
            try:
                params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "300"}
                params["allowWatchBookmarks"] = "true"
                with self._client.stream("GET", self.path, params=params, timeout=None) as r:
                    for line in r.iter_lines():
                        if self._stop.is_set():
                            return
                        if line and not (rv := self._apply(json.loads(line))):
                            break
                if not rv:  # 410 Gone: the resourceVersion is too old, list again
                    rv = self._relist()
            except (httpx.HTTPError, ValueError):
                if self._stop.is_set():
                    return
                time.sleep(0.5)
                rv = self._relist()

    def _apply(self, event: Mapping[str, Any]) -> str:
        """Keep one watch event; its resourceVersion, or "" for an error event."""
        kind, obj = event["type"], event["object"]
        if kind == "ERROR":
            return ""
        name = obj["metadata"].get("name")
        with self._cond:
            if kind == "DELETED":
                self.objects.pop(name, None)
            elif kind in ("ADDED", "MODIFIED"):
                old = self.objects.get(name)
                if kind == "MODIFIED":
                    self.changes += 1
                    if old is not None and old.get("status") != obj.get("status"):
                        self.status_changes += 1
                self.objects[name] = obj
                if self.record:
                    self.history.append((time.time(), name, obj))
            self._cond.notify_all()
        return str(obj["metadata"]["resourceVersion"])

    def wait(
        self,
        what: str,
        ok: Callable[[dict[str, Any]], bool],
        *,
        names: Iterable[str],
        timeout: float,
    ) -> float:
        """Block until ``ok`` holds for every one of ``names``; return when (perf_counter)."""
        wanted = list(names)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                missing = [n for n in wanted if not (n in self.objects and ok(self.objects[n]))]
                if not missing:
                    return time.perf_counter()
                left = deadline - time.monotonic()
                if left <= 0:
                    sample = {n: self.objects.get(n, {}).get("status") for n in missing[:3]}
                    raise TimeoutError(
                        f"{what}: {len(missing)} of {len(wanted)} not there after {timeout:.0f}s; "
                        f"e.g. {json.dumps(sample, default=str)[:1500]}"
                    )
                self._cond.wait(min(left, 1.0))

    def first_times(
        self, ok: Callable[[dict[str, Any]], bool], *, since: float
    ) -> dict[str, float]:
        """When (time.time()) each object first held ``ok`` after ``since``, from ``history``."""
        firsts: dict[str, float] = {}
        with self._cond:
            for at, name, obj in self.history:
                if at >= since and name not in firsts and ok(obj):
                    firsts[name] = at
        return firsts

    def counts(self) -> tuple[int, int]:
        with self._cond:
            return self.changes, self.status_changes


# --- end states -------------------------------------------------------------


def generation_is(generations: Mapping[str, int]) -> Callable[[dict[str, Any]], bool]:
    """An object is at (or past) its generation in ``generations``: its spec change is seen."""

    def ok(obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        return int(meta.get("generation") or 0) >= generations.get(meta.get("name", ""), 1 << 62)

    return ok


def phase_is(
    phase: str, generations: Mapping[str, int] | None = None
) -> Callable[[dict[str, Any]], bool]:
    """A SyncJob reports ``phase`` (for its generation in ``generations`` or later, when given)."""

    def ok(obj: dict[str, Any]) -> bool:
        st = obj.get("status") or {}
        if st.get("phase") != phase:
            return False
        wanted = (generations or {}).get(obj["metadata"]["name"], 0)
        return int(st.get("observedGeneration") or 0) >= wanted

    return ok


def has_phase(obj: dict[str, Any]) -> bool:
    return bool((obj.get("status") or {}).get("phase"))


def replicas_are(replicas: int) -> Callable[[dict[str, Any]], bool]:
    """A Deployment at ``replicas``, every Pod of it Ready (at 0: no Pod left at all)."""

    def ok(obj: dict[str, Any]) -> bool:
        st = obj.get("status") or {}
        return (
            obj["spec"].get("replicas") == replicas
            and int(st.get("replicas") or 0) == replicas
            and int(st.get("readyReplicas") or 0) == replicas
            and int(st.get("updatedReplicas") or 0) == replicas
            and int(st.get("observedGeneration") or 0) >= obj["metadata"]["generation"]
        )

    return ok


# --- the objects ------------------------------------------------------------


def scale_job(name: str, deployment: str) -> dict[str, Any]:
    """A SyncJob that pauses by scaling one Deployment, as a new user writes it."""
    return manifests.syncjob(
        name, {"paused": False, "workloads": [manifests.workload_ref(deployment)]}
    )


def connect_job(name: str, url: str, connector: str) -> dict[str, Any]:
    """A SyncJob that pauses one connector through Kafka Connect's REST API."""
    spec = {"paused": False, "connect": {"url": url, "connectors": [connector]}}
    return manifests.syncjob(name, spec)


@dataclass
class OperatorStatus:
    """The status patches the operator writes for one Connect job, for a floor to write the same.

    A floor that writes ``{"phase": ...}`` alone keeps its objects small, so
    its own spec and status patches cost the API server less than the
    operator's do (every update decodes, validates and diffs the managed
    fields of the whole object: the operator's status is ~1.4 KiB).  The
    operator's own decision, given the connector in the state the floor
    waited for, says what it would write; each patch is the difference from
    the last, as the operator sends it.
    """

    spec: dict[str, Any]
    connector: str
    worker: str
    last: dict[str, Any] = field(default_factory=dict)  # the status as last written

    def patch(self, *, paused: bool, generation: int) -> dict[str, Any]:
        state: ConnectState = "PAUSED" if paused else "RUNNING"
        connector = ConnectorState(
            name=self.connector,
            state=state,
            type="source",
            worker_id=self.worker,
            tasks=(TaskState(0, state, self.worker),),
            offsets=({"position": 1},),
        )
        decided = reconcile.decide(
            v1alpha1.parse_spec({**self.spec, "paused": paused}),
            Observed(connectors=(connector,), connector_types={self.connector: "source"}),
            plan.Context(
                generation=generation,
                now=datetime.now(UTC),
                previous=v1alpha1.parse_status(self.last),
            ),
        )
        new = v1alpha1.dump(decided.status)
        patch = merge_patch(self.last, new)
        self.last = new
        return patch


def file_source(directory: Path, name: str, topic: str) -> dict[str, str]:
    """A FileStreamSource's config, on a one-line file of its own.

    It sends one record, commits its position (an offset with no snapshot in
    it: the CDC stage, so a pause need not wait) and then only looks at the
    file once a second: a real connector and task that cost next to nothing.
    """
    path = directory / f"{name}.txt"
    path.write_text(f"{name}\n")
    return {
        "connector.class": FILE_SOURCE_CLASS,
        "tasks.max": "1",
        "file": str(path),
        "topic": topic,
    }


def connector_states(rest: httpx.Client, names: Iterable[str]) -> dict[str, list[str]]:
    """Each connector's state and its tasks' (one GET for all); those without tasks left out."""
    body: dict[str, Any] = rest.get("/connectors", params={"expand": "status"}).json()
    return {
        n: [body[n]["status"]["connector"]["state"]]
        + [t["state"] for t in body[n]["status"]["tasks"]]
        for n in names
        if n in body and body[n]["status"]["tasks"]
    }


def connectors_all_in(rest: httpx.Client, names: list[str], state: str) -> bool:
    now = connector_states(rest, names)
    return len(now) == len(names) and all(s == state for v in now.values() for s in v)


def create_all(api: Api, path: str, objects: list[dict[str, Any]]) -> None:
    in_parallel(lambda o: api.request("POST", path, o), objects)


def patch_paused_all(
    api: Api, ns: str, names: list[str], paused: bool, answered: dict[str, float] | None = None
) -> dict[str, int]:
    """Every SyncJob's ``spec.paused`` at once; each one's new generation.

    ``answered``, if given, gets when (time.time()) each patch was answered.
    """

    def one(name: str) -> tuple[str, int]:
        body = api.request(
            "PATCH", syncjobs_path(ns, name), {"spec": {"paused": paused}}, headers=MERGE
        )
        if answered is not None:
            answered[name] = time.time()
        return name, int(body["metadata"]["generation"])

    return dict(in_parallel(one, names))


def storm(
    api: Api, watch: Collection, ns: str, names: list[str], *, paused: bool, timeout: float
) -> None:
    """Every job's ``spec.paused`` flipped at once, then every job at its phase for it."""
    phase = "Paused" if paused else "Running"
    generations = patch_paused_all(api, ns, names, paused)
    watch.wait(f"every job {phase}", phase_is(phase, generations), names=names, timeout=timeout)


def post_event(api: Api, ns: str, obj: Mapping[str, Any], reason: str, message: str) -> None:
    """One core/v1 Event about ``obj``, shaped as the operator posts its own (through Kopf)."""
    now = datetime.now(UTC).isoformat()
    meta = obj["metadata"]
    api.request(
        "POST",
        f"/api/v1/namespaces/{ns}/events",
        {
            "metadata": {"namespace": ns, "generateName": "floor-event-"},
            "action": "Action?",
            "type": "Normal",
            "reason": reason,
            "message": message,
            "reportingComponent": "floor",
            "reportingInstance": "floor",
            "source": {"component": "floor"},
            "involvedObject": {
                "apiVersion": obj["apiVersion"],
                "kind": obj["kind"],
                "name": meta["name"],
                "namespace": ns,
                "uid": meta["uid"],
            },
            "firstTimestamp": now,
            "lastTimestamp": now,
            "eventTime": now,
        },
    )


def scale_all(api: Api, ns: str, replicas: Mapping[str, int]) -> None:
    """The floor's calls: one PATCH of the scale subresource per Deployment."""
    in_parallel(
        lambda item: api.request(
            "PATCH",
            deployments_path(ns, item[0]) + "/scale",
            {"spec": {"replicas": item[1]}},
            headers=MERGE,
        ),
        list(replicas.items()),
    )


def clear_status(api: Api, watch: Collection, ns: str, names: list[str]) -> None:
    """Every SyncJob's status removed, and seen so: an operator started next never saw them."""
    in_parallel(
        lambda n: api.request(
            "PATCH", syncjobs_path(ns, n) + "/status", {"status": None}, headers=MERGE
        ),
        names,
    )
    watch.wait("status cleared", lambda o: not has_phase(o), names=names, timeout=120)


def scale_fleet(jobs: int) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """``jobs`` Deployment names and a scale-backend SyncJob for each, by job name."""
    deployments = [f"wl-{i:04d}" for i in range(jobs)]
    return deployments, {
        f"job-{i:04d}": scale_job(f"job-{i:04d}", d) for i, d in enumerate(deployments)
    }


def strip_finalizers(api: Api, ns: str, names: list[str]) -> None:
    """After the operator is gone: let the SyncJobs be deleted without it."""
    in_parallel(
        lambda n: api.request(
            "PATCH", syncjobs_path(ns, n), {"metadata": {"finalizers": None}}, headers=MERGE
        ),
        names,
    )


# --- the process ------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# Which component a process is, by a word of its command line (first match).
COMPONENTS = (
    ("syncjob_operator", "operator"),
    ("kube-apiserver", "kube-apiserver"),
    ("etcd", "etcd"),
    ("ConnectDistributed", "Kafka Connect"),
    ("kafka.Kafka", "Kafka"),
    ("kwok", "kwok"),
    ("kube-controller-manager", "controller-manager"),
    ("kube-scheduler", "scheduler"),
    ("pytest", "the bench (watch, proxy)"),
)


def cpu_by_component() -> dict[str, float]:
    """CPU seconds so far of each component's processes on this machine."""
    found: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            seconds = cpu_seconds(int(entry.name))
        except OSError:
            continue  # gone meanwhile
        for word, label in COMPONENTS:
            if word in args:
                found[label] = found.get(label, 0.0) + seconds
                break
    return found


def cpu_split(before: dict[str, float], after: dict[str, float], wall: float) -> str:
    """Each component's share of the machine's CPU between two cpu_by_component() calls."""
    used = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    return ", ".join(
        f"{k} {v:.1f} s ({100 * v / wall:.0f} % of a core)"
        for k, v in sorted(used.items(), key=lambda kv: -kv[1])
        if v >= 0.05
    )


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """``pid``'s resident memory now, or its peak so far with ``field="VmHWM"``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


def audit_requests(log: Path, start_offset: int, user: str) -> dict[str, int]:
    """Requests ``user`` completed since byte ``start_offset`` of the audit log, by kind."""
    counts: dict[str, int] = {}
    with log.open("rb") as f:
        f.seek(start_offset)
        for raw in f:
            event = json.loads(raw)
            if event.get("stage") != "ResponseComplete" or event["user"]["username"] != user:
                continue
            ref = event.get("objectRef") or {}
            resource = ref.get("resource", "?") + (
                "/" + ref["subresource"] if ref.get("subresource") else ""
            )
            key = f"{event['verb']} {resource}"
            counts[key] = counts.get(key, 0) + 1
    return counts


def audit_times(
    log: Path, start_offset: int, user: str, verb: str, resource: str
) -> list[tuple[float, str]]:
    """(time.time(), object name) of each ``verb resource`` request ``user`` completed."""
    return [(done, name) for _, done, name in audit_spans(log, start_offset, user, verb, resource)]


def audit_spans(
    log: Path, start_offset: int, user: str, verb: str, resource: str
) -> list[tuple[float, float, str]]:
    """(received, completed, object name) of each ``verb resource`` request of ``user``.

    Times are time.time(); completed minus received is the API server's own
    time for the request (queueing in it included).
    """
    found: list[tuple[float, float, str]] = []

    def stamp(text: str) -> float:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    with log.open("rb") as f:
        f.seek(start_offset)
        for raw in f:
            event = json.loads(raw)
            if event.get("stage") != "ResponseComplete" or event["user"]["username"] != user:
                continue
            ref = event.get("objectRef") or {}
            what = ref.get("resource", "?") + (
                "/" + ref["subresource"] if ref.get("subresource") else ""
            )
            if event["verb"] == verb and what == resource:
                found.append(
                    (
                        stamp(event["requestReceivedTimestamp"]),
                        stamp(event["stageTimestamp"]),
                        str(ref.get("name", "")),
                    )
                )
    return found


def quantiles(values: Iterable[float]) -> str:
    """min / p50 / p95 / max of ``values``, for a timeline line."""
    ordered = sorted(values)
    if not ordered:
        return "none"

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return (
        f"min {ordered[0]:.2f} s, p50 {at(0.5):.2f} s, p95 {at(0.95):.2f} s, "
        f"max {ordered[-1]:.2f} s (n={len(ordered)})"
    )


# --- the table --------------------------------------------------------------


@dataclass
class Row:
    figure: str
    value: float
    unit: str
    floor: float | None = None
    target: str = ""
    passed: bool | None = None


@dataclass
class Table:
    title: str
    rows: list[Row] = field(default_factory=list)

    def add(
        self,
        figure: str,
        value: float,
        unit: str,
        *,
        floor: float | None = None,
        max_ratio: float | None = None,
        max_value: float | None = None,
    ) -> None:
        target, passed = "", None
        if max_ratio is not None and floor:
            target, passed = f"<= {max_ratio}x floor", value <= max_ratio * floor
        elif max_value is not None:
            target, passed = f"<= {max_value:g} {unit}", value <= max_value
        self.rows.append(Row(figure, value, unit, floor, target, passed))

    def render(self) -> str:
        lines = [
            self.title,
            f"| {'figure':44} | {'operator':>12} | {'floor':>12} | {'ratio':>6} | "
            f"{'target':18} | result |",
            f"|{'-' * 46}|{'-' * 14}|{'-' * 14}|{'-' * 8}|{'-' * 20}|--------|",
        ]
        for r in self.rows:
            floor = f"{r.floor:.1f} {r.unit}" if r.floor is not None else ""
            ratio = f"{r.value / r.floor:.2f}" if r.floor else ""
            result = "" if r.passed is None else ("PASS" if r.passed else "MISS")
            lines.append(
                f"| {r.figure:44} | {f'{r.value:.1f} {r.unit}':>12} | {floor:>12} | {ratio:>6} | "
                f"{r.target:18} | {result:6} |"
            )
        return "\n".join(lines)
