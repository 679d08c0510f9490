"""Benchmark: one operator process and many SyncJobs, each figure next to its floor.

Two fleets, each on the same real servers as its floor, in one run:

* ``SCALE_JOBS`` SyncJobs (1,000) with the scale backend: one Deployment
  each (one Pod; kwok plays the kubelet of enough fake nodes for every Pod).
* ``SCALE_CONNECTORS`` connectors (200) on one real Kafka Connect worker,
  one SyncJob each with ``spec.connect``, the worker behind the fault proxy,
  which counts the operator's requests.  The connector is Kafka's own
  FileStreamSource on a one-line file (tests/env/fetch-connect-file.sh): a
  real connector and task, in the CDC stage once its one record is sent,
  and then idle.

The operator runs with the settings the product ships with (the chart's:
peering on, JSON logs at INFO, no ``--verbose``; every ``SYNCJOB_*`` interval
at its default, resync 30 s), as the chart's ServiceAccount.

The floor of each figure is a bare script (tests/helpers/scale.py) making
the same calls for the same objects and waiting for the same end state, in
the same run and before the operator starts: PATCH /scale per Deployment
(or PUT /connectors/{n}/pause|resume per connector), waited for by a watch
(or one ``GET /connectors?expand=status`` every 100 ms), then a status write
and an Event per job; before a connector's PUT pause, a read of its offsets
(what the operator decides a pause on: it never pauses a snapshot).  For
the start-up, one read of each job's workload (connector) and one status
write per job, before the storms.  For Connect jobs the floor's status
writes are the operator's own (its decision, given the state the floor
waited for: ``scale.OperatorStatus``), so that both sides update objects
of the same size; the scale fleet's floor writes the phase and generation
alone.  The storms are also printed against the floor's smallest calls (no
reads, no Events, the phase and generation alone) and against the
backend's calls alone.

The Connect storms run ``SCALE_CONNECT_STORMS`` times each (3), the
floors' and the operator's, and the table has their medians: one run of a
storm spreads by a second or more on two shared cores.

Printed: start-up convergence, pause and resume storms, the operator's RSS
and CPU seconds, and when idle for 60 s the SyncJob status writes, the
requests it made to the API server (audit log) and to Connect (proxy),
and its CPU.  Targets are printed PASS/MISS, never asserted: a benchmark
measures (``make bench``).  What is asserted is that every storm converged.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from syncjob_operator.settings import Settings
from tests.bench.fleet import Plane, fleet_plane, spawn_until_running
from tests.env import connect, faultproxy, kafka
from tests.helpers import manifests, polling, scale
from tests.helpers.operator import OperatorProcess

JOBS = int(os.environ.get("SCALE_JOBS", "1000"))
CONNECTORS = int(os.environ.get("SCALE_CONNECTORS", "200"))
IDLE_WINDOW_S = 60.0
# Each Connect storm, the floors' and the operator's, this many times; the
# table has the medians.  Runs of one storm spread by a second or more on
# the shared two cores (the floor's pause storm 3.2-4.7 s in eight runs).
CONNECT_STORMS = int(os.environ.get("SCALE_CONNECT_STORMS", "3"))
# After the last storm, before the idle window: the last transitions' own
# follow-up passes are over well within one resync interval.
SETTLE_S = 35.0
# Bounds on each wait: far above any time measured, so only a hang fails.
STORM_TIMEOUT_S = 60.0 + JOBS * 1.0
# pytest-timeout's default (pyproject) is for one test, not for a fleet of a thousand.
pytestmark = pytest.mark.timeout(1800 + 6 * int(STORM_TIMEOUT_S))
SHIPPED = Settings()
# When each spec patch of the operator's last storm was answered (time.time()).
ANSWERED: dict[str, float] = {}


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    """A control plane of its own, with a fake node per 110 Pods, and the chart installed."""
    with fleet_plane(tmp_path_factory.mktemp("scale"), JOBS) as p:
        yield p


@dataclass
class Floor:
    """The bare script's side of one backend: the calls, and waiting for the end state."""

    pause: Callable[[], None]
    resume: Callable[[], None]
    observe: Callable[[str], None]  # one read of a job's backend, as at start-up
    # The pause with the reads the operator makes before its calls (a
    # connector's offsets: a pause is decided on them); None: the same as ``pause``.
    pause_with_reads: Callable[[], None] | None = None
    # The status patch the operator writes for a job (name, paused,
    # generation); None: the phase and generation alone.
    status: Callable[[str, bool, int], dict[str, Any]] | None = None


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run_fleet(
    p: Plane,
    table: scale.Table,
    ns: str,
    jobs: dict[str, dict[str, Any]],
    floor: Floor,
    check_paused: Callable[[], None],
    check_running: Callable[[], None],
    backend_requests: Callable[[], dict[str, int]] | None = None,
    timeline: Callable[[bool, float, int, Mapping[str, float]], list[str]] | None = None,
    repeats: int = 1,
) -> None:
    """Floors first (no operator yet), then the operator: start-up, storms, idle.

    Each pause and resume storm ``repeats`` times, in turn; the table has the
    medians, the title every run.
    """
    api, names = p.api, list(jobs)
    scale.create_all(api, scale.syncjobs_path(ns), list(jobs.values()))
    watch = scale.Collection(api, scale.syncjobs_path(ns), record=timeline is not None).start()
    try:
        watch.wait("SyncJobs listed", lambda _: True, names=names, timeout=120)

        def status_patch(name: str, paused: bool, generation: int, *, same: bool) -> Any:
            """The floor's status write: the operator's own (``same``), or phase and generation."""
            body = {"phase": "Paused" if paused else "Running", "observedGeneration": generation}
            if same and floor.status is not None:
                body = floor.status(name, paused, generation)
            return api.request(
                "PATCH",
                scale.syncjobs_path(ns, name) + "/status",
                {"status": body},
                headers=scale.MERGE,
            )

        def floor_start() -> None:
            def one(name: str) -> None:
                floor.observe(name)
                generation = int(watch.objects[name]["metadata"]["generation"])
                status_patch(name, False, generation, same=True)

            scale.in_parallel(one, names)
            watch.wait("floor: every phase", scale.has_phase, names=names, timeout=STORM_TIMEOUT_S)

        # First, as the operator's start-up does, each job gets its status:
        # the storms' spec patches then update objects of the operator's size.
        floor_startup = timed(floor_start)

        def floor_storm(
            paused: bool, phase: str, backend: Callable[[], None], *, same: bool
        ) -> tuple[float, float]:
            """The bare controller's storm: (whole, backend part).

            The same calls as the operator's and the same end state: the
            user's spec patch of every job, the backend's calls and wait,
            one status patch per job (with ``same``, the operator's own and
            an Event, as the operator posts one per phase change), every
            job's phase seen by the watch.
            """
            t0, wall0 = time.perf_counter(), time.time()
            audit_at = p.plane.audit_log.stat().st_size
            cpu0 = scale.cpu_by_component()
            answered: dict[str, float] = {}
            generations = scale.patch_paused_all(api, ns, names, paused, answered)
            backend_s = timed(backend)

            def report(n: str) -> None:
                obj = status_patch(n, paused, generations[n], same=same)
                if same:
                    before = "Running" if paused else "Paused"
                    scale.post_event(api, ns, obj, phase, f"Phase {before} -> {phase}. ")

            scale.in_parallel(report, names)
            watch.wait(
                f"floor: every job {phase}",
                scale.phase_is(phase, generations),
                names=names,
                timeout=STORM_TIMEOUT_S,
            )
            whole = time.perf_counter() - t0
            split = scale.cpu_split(cpu0, scale.cpu_by_component(), whole)
            print(f"  floor {phase} storm CPU: {split}")
            if timeline is not None:
                seen = watch.first_times(scale.generation_is(generations), since=wall0)
                print(
                    f"  floor {phase} storm timeline: spec patch seen by a watch, after its "
                    "answer: " + scale.quantiles(seen[n] - answered[n] for n in seen)
                )
                reported = watch.first_times(scale.phase_is(phase, generations), since=wall0)
                for line in timeline(paused, wall0, audit_at, reported):
                    print(f"  floor {phase} storm timeline: {line}")
            return whole, backend_s

        # Two floors: the backend calls with the smallest status writes; then
        # the same calls as the operator's: the reads a pause is decided on,
        # the operator's own status, an Event per job.
        runs: dict[str, list[float]] = {}

        def floor_round() -> None:
            for key, paused, phase, calls, same in (
                ("bare pause", True, "Paused", floor.pause, False),
                ("bare resume", False, "Running", floor.resume, False),
                ("floor pause", True, "Paused", floor.pause_with_reads or floor.pause, True),
                ("floor resume", False, "Running", floor.resume, True),
            ):
                whole, backend_s = floor_storm(paused, phase, calls, same=same)
                runs.setdefault(key, []).append(whole)
                if not same:
                    runs.setdefault(key.replace("bare", "backend"), []).append(backend_s)

        def operator_round(i: int) -> tuple[OperatorProcess, int]:
            """The operator spawned on SyncJobs it never saw, until every job is Running."""
            # Undone before the operator comes: it starts from SyncJobs it never saw.
            scale.clear_status(api, watch, ns, names)
            log = p.tmp / f"operator-{ns}{'-' + str(i + 1) if i else ''}.log"
            op, pid, took = spawn_until_running(p, log, watch, names, timeout=STORM_TIMEOUT_S)
            runs.setdefault("start-up", []).append(took)
            return op, pid

        floor_round()
        op, pid = operator_round(0)
        try:
            cpu_startup, rss_startup = scale.cpu_seconds(pid), scale.rss_mib(pid)

            def storm(paused: bool, phase: str, floor_s: float) -> float:
                t0, wall0 = time.perf_counter(), time.time()
                audit_at = p.plane.audit_log.stat().st_size
                before = backend_requests() if backend_requests else {}
                cpu0 = scale.cpu_by_component()
                ANSWERED.clear()
                generations = scale.patch_paused_all(api, ns, names, paused, ANSWERED)
                done = watch.wait(
                    f"operator: every job {phase}",
                    scale.phase_is(phase, generations),
                    names=names,
                    # A loaded machine slows the floor too: never less than 5x it.
                    timeout=max(STORM_TIMEOUT_S, 5 * floor_s),
                )
                split = scale.cpu_split(cpu0, scale.cpu_by_component(), done - t0)
                print(f"  {phase} storm CPU: {split}")
                if timeline is not None:
                    # How late a watch (the bench's, as the operator's) hears
                    # of a change on the busy API server: a job's path waits
                    # on two (its spec patch reaching the operator, its status
                    # reaching the reader), the floor's on one.
                    seen = watch.first_times(scale.generation_is(generations), since=wall0)
                    print(
                        f"  {phase} storm timeline: spec patch seen by a watch, after its "
                        "answer: "
                        + scale.quantiles(seen[n] - ANSWERED[n] for n in seen if n in ANSWERED)
                    )
                    reported = watch.first_times(scale.phase_is(phase, generations), since=wall0)
                    for line in timeline(paused, wall0, audit_at, reported):
                        print(f"  {phase} storm timeline: {line}")
                if backend_requests:
                    after = backend_requests()
                    made = {k: n - before.get(k, 0) for k, n in after.items()}
                    print(
                        f"  {phase} storm: Connect requests "
                        + ", ".join(f"{k} x{n}" for k, n in sorted(made.items()) if n)
                    )
                return done - t0

            cpu_pause = cpu_resume = 0.0
            for i in range(repeats):
                if i:
                    # The floors' storms again, the operator stopped, and
                    # then the operator anew: the API server's CPU for the
                    # same storm grows through a run (the bare resume storm
                    # 2.0 -> 2.8 s), and turns share that drift alike.
                    op.stop()
                    floor_round()
                    op, pid = operator_round(i)
                cpu0 = scale.cpu_seconds(pid)
                runs.setdefault("pause", []).append(
                    storm(True, "Paused", statistics.median(runs["floor pause"]))
                )
                check_paused()
                cpu1 = scale.cpu_seconds(pid)
                runs.setdefault("resume", []).append(
                    storm(False, "Running", statistics.median(runs["floor resume"]))
                )
                check_running()
                cpu_pause += (cpu1 - cpu0) / repeats
                cpu_resume += (scale.cpu_seconds(pid) - cpu1) / repeats
            rss_storms = scale.rss_mib(pid)

            time.sleep(SETTLE_S)
            changes0, writes0 = watch.counts()
            audit0 = p.plane.audit_log.stat().st_size
            backend0 = backend_requests() if backend_requests else {}
            cpu0, t0 = scale.cpu_seconds(pid), time.monotonic()
            time.sleep(IDLE_WINDOW_S)
            idle_cpu = scale.cpu_seconds(pid) - cpu0
            window = time.monotonic() - t0
            changes1, writes1 = watch.counts()
            kube_calls = scale.audit_requests(p.plane.audit_log, audit0, p.operator_user)
            backend1 = backend_requests() if backend_requests else {}
            rss_idle = scale.rss_mib(pid)
            rss_peak = scale.rss_mib(pid, "VmHWM")
        finally:
            op.stop()
        per_min = 60.0 / window

        startup = statistics.median(runs["start-up"])
        table.add("start-up (spawn -> every job Running)", startup, "s", floor=floor_startup)
        if repeats > 1:
            every = "; ".join(
                f"{k} " + ", ".join(f"{x:.1f}" for x in v) + " s" for k, v in runs.items()
            )
            table.title += f"\n  each storm {repeats} times, the medians below; every run: {every}"
        median = {k: statistics.median(v) for k, v in runs.items()}
        pause, resume = median["pause"], median["resume"]
        floor_pause, floor_resume = median["floor pause"], median["floor resume"]
        bare_pause, bare_resume = median["bare pause"], median["bare resume"]
        backend_pause, backend_resume = median["backend pause"], median["backend resume"]
        storms: list[tuple[str, float, float, float | None]] = [
            ("pause storm (patch all -> every job Paused)", pause, floor_pause, 1.2),
            ("resume storm (-> every job Running, Ready)", resume, floor_resume, 1.2),
            ("pause storm, against the floor's smallest calls", pause, bare_pause, None),
            ("resume storm, against the floor's smallest calls", resume, bare_resume, None),
            ("pause storm, against its backend calls alone", pause, backend_pause, None),
            ("resume storm, against its backend calls alone", resume, backend_resume, None),
        ]
        for figure, ours, floor_s, max_ratio in storms:
            table.add(figure, ours, "s", floor=floor_s, max_ratio=max_ratio)
        table.add("RSS after start-up", rss_startup, "MiB", max_value=250)
        table.add("RSS after the storms", rss_storms, "MiB", max_value=250)
        table.add("RSS after 60 s idle", rss_idle, "MiB", max_value=250)
        table.add("RSS at its peak (VmHWM, start-up included)", rss_peak, "MiB")
        table.add("CPU seconds: start-up", cpu_startup, "s")
        table.add("CPU seconds: pause storm", cpu_pause, "s")
        table.add("CPU seconds: resume storm", cpu_resume, "s")
        table.add(
            "idle: SyncJob status writes per minute",
            (writes1 - writes0) * per_min,
            "/min",
            max_value=0,
        )
        table.add(
            "idle: SyncJob changes of any kind per minute", (changes1 - changes0) * per_min, "/min"
        )
        table.add(
            "idle: Kubernetes requests per minute", sum(kube_calls.values()) * per_min, "/min"
        )
        table.add("idle: CPU, % of one core", 100 * idle_cpu / window, "%", max_value=2)
        if backend_requests:
            made = sum(backend1.values()) - sum(backend0.values())
            table.add(
                "idle: Connect requests per resync interval",
                made * SHIPPED.resync_interval / window,
                "req",
                max_value=1,
            )
            by_shape = {k: backend1[k] - backend0.get(k, 0) for k in backend1}
            table.title += f"\n  idle Connect requests in {window:.0f} s: " + ", ".join(
                f"{k} x{v}" for k, v in sorted(by_shape.items()) if v
            )
        table.title += f"\n  idle Kubernetes requests in {window:.0f} s: " + ", ".join(
            f"{k} x{v}" for k, v in sorted(kube_calls.items())
        )
        # Let the namespace go without an operator to finish the finalizers.
        scale.strip_finalizers(api, ns, names)
    finally:
        watch.stop()


def header(what: str) -> str:
    return (
        f"{what}; {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores shared; operator as shipped: "
        f"resync {SHIPPED.resync_interval:g} s, transition poll {SHIPPED.transition_poll_min:g}-"
        f"{SHIPPED.transition_poll_max:g} s, peering on, one process"
    )


def test_connect_fleet(plane: Plane) -> None:
    p, ns = plane, "connect-bench"
    p.kube.kubectl("create", "namespace", ns)
    broker = kafka.start_kafka(p.tmp / "kafka")
    worker = connect.start_connect(
        p.tmp / "connect", broker.bootstrap, required_plugins=(), heap="1g", group_id="scale-bench"
    )
    proxy = faultproxy.ThreadedFaultProxy("127.0.0.1", worker.port).start()
    rest = httpx.Client(base_url=worker.url, timeout=60)
    proxied = httpx.Client(base_url=proxy.url, timeout=60)
    try:
        names = [f"source-{i:04d}" for i in range(CONNECTORS)]
        files = p.tmp / "files"
        files.mkdir()
        scale.in_parallel(
            lambda n: rest.put(
                f"/connectors/{n}/config", json=scale.file_source(files, n, "scale-bench")
            ).raise_for_status(),
            names,
        )

        def all_in(state: str) -> None:
            polling.wait_for(
                f"every connector {state}",
                lambda: scale.connectors_all_in(rest, names, state),
                timeout=STORM_TIMEOUT_S,
                interval=0.1,
            )

        all_in("RUNNING")

        def storm(
            verb: str, state: str, via: httpx.Client, *, reads: bool = False
        ) -> Callable[[], None]:
            """Every connector's PUT at once; with ``reads``, each after a read of its offsets."""

            def one(n: str) -> None:
                if reads:
                    via.get(f"/connectors/{n}/offsets").raise_for_status()
                via.put(f"/connectors/{n}/{verb}").raise_for_status()

            def go() -> None:
                scale.in_parallel(one, names)
                all_in(state)

            return go

        # The floor goes through the fault proxy, as the operator does (the
        # proxy counts the operator's requests); what the proxy itself costs
        # is printed: the same calls straight to the worker.
        direct = {
            verb: timed(storm(verb, state, rest))
            for verb, state in (("pause", "PAUSED"), ("resume", "RUNNING"))
        }

        def observe(job: str) -> None:
            rest.get(f"/connectors/{job}/status").raise_for_status()

        jobs = {n: scale.connect_job(n, proxy.url, n) for n in names}
        worker_id = rest.get(f"/connectors/{names[0]}/status").json()["connector"]["worker_id"]
        statuses = {
            n: scale.OperatorStatus(jobs[n]["spec"], connector=n, worker=worker_id) for n in names
        }

        def timeline(
            paused: bool, since: float, audit_at: int, reported: Mapping[str, float]
        ) -> list[str]:
            """Where a storm's time goes on the API server: the operator's writes, job by job."""
            log, user = p.plane.audit_log, p.operator_user
            writes = scale.audit_spans(log, audit_at, user, "patch", "syncjobs/status")
            if not writes:  # the floor: its requests are not the operator's
                return [
                    "phase reported, from the start: "
                    + scale.quantiles(t - since for t in reported.values())
                ]
            first: dict[str, float] = {}
            for received, _, name in writes:
                first.setdefault(name, received)
            seen = proxy.last_seen()
            verb = "pause" if paused else "resume"
            puts = [seen[f"PUT /connectors/{n}/{verb}"] for n in names]
            offsets = [seen.get(f"GET /connectors/{n}/offsets", 0.0) for n in names]
            events = scale.audit_spans(log, audit_at, user, "create", "events")
            made = scale.audit_requests(log, audit_at, user)
            return [
                "operator's requests to the API server: "
                + ", ".join(f"{k} x{v}" for k, v in sorted(made.items())),
                "spec patch answered, from the start: "
                + scale.quantiles(t - since for t in ANSWERED.values()),
                "GET offsets sent, from the start: "
                + scale.quantiles(t - since for t in offsets if t >= since),
                f"PUT {verb} sent, from the start: " + scale.quantiles(t - since for t in puts),
                "first status write sent, from the start: "
                + scale.quantiles(t - since for t in first.values()),
                "status write, API server time: "
                + scale.quantiles(done - got for got, done, _ in writes),
                "Event POST, API server time: "
                + scale.quantiles(done - got for got, done, _ in events),
                "phase reported, from the start: "
                + scale.quantiles(t - since for t in reported.values()),
                "phase seen by a watch, after its status write was answered: "
                + scale.quantiles(
                    t - max(done for _, done, m in writes if m == n and done <= t)
                    for n, t in reported.items()
                    if any(m == n and done <= t for _, done, m in writes)
                ),
            ]

        def requests() -> dict[str, int]:
            return dict(proxy.requests())

        table = scale.Table(
            header(f"{CONNECTORS} connectors on one Kafka Connect worker, one SyncJob each")
            + "\n  floors through the fault proxy; the same calls straight to the worker: "
            + ", ".join(f"{verb} {s:.1f} s" for verb, s in direct.items())
        )
        run_fleet(
            p,
            table,
            ns,
            jobs,
            Floor(
                storm("pause", "PAUSED", proxied),
                storm("resume", "RUNNING", proxied),
                observe,
                pause_with_reads=storm("pause", "PAUSED", proxied, reads=True),
                status=lambda n, paused, generation: statuses[n].patch(
                    paused=paused, generation=generation
                ),
            ),
            lambda: all_in("PAUSED"),
            lambda: all_in("RUNNING"),
            requests,
            timeline=timeline,
            repeats=CONNECT_STORMS,
        )
    finally:
        rest.close()
        proxied.close()
        proxy.stop()
        worker.stop()
        broker.stop()
    print("\n" + table.render())
    p.kube.kubectl("delete", "namespace", ns, "--timeout=600s", timeout=620)


def test_scale_backend_fleet(plane: Plane) -> None:
    p, api, ns = plane, plane.api, "scale-bench"
    p.kube.kubectl("create", "namespace", ns)
    deployments, jobs = scale.scale_fleet(JOBS)
    deps = scale.Collection(api, scale.deployments_path(ns), record=True).start()
    job_of = {d: f"job-{d[3:]}" for d in deployments}
    try:
        scale.create_all(
            api, scale.deployments_path(ns), [manifests.deployment(d, 1) for d in deployments]
        )
        deps.wait(
            "Deployments Ready", scale.replicas_are(1), names=deployments, timeout=STORM_TIMEOUT_S
        )

        def scaled(replicas: int) -> Callable[[], None]:
            def go() -> None:
                scale.scale_all(api, ns, dict.fromkeys(deployments, replicas))
                deps.wait(
                    f"floor: Deployments at {replicas}",
                    scale.replicas_are(replicas),
                    names=deployments,
                    timeout=STORM_TIMEOUT_S,
                )

            return go

        def observe(job: str) -> None:
            api.request("GET", scale.deployments_path(ns, "wl-" + job[4:]) + "/scale")

        def check(replicas: int) -> Callable[[], None]:
            def go() -> None:
                deps.wait(
                    f"Deployments at {replicas}",
                    scale.replicas_are(replicas),
                    names=deployments,
                    timeout=60,
                )

            return go

        def timeline(
            paused: bool, since: float, audit_at: int, reported: Mapping[str, float]
        ) -> list[str]:
            """Where a storm's time goes, job by job: asked, scaled, reported."""
            asked: dict[str, float] = {}
            for at, name in scale.audit_times(
                p.plane.audit_log, audit_at, p.operator_user, "patch", "deployments/scale"
            ):
                asked.setdefault(job_of.get(name, name), at)
            scaled_at = {
                job_of[d]: at
                for d, at in deps.first_times(
                    scale.replicas_are(0 if paused else 1), since=since
                ).items()
                if d in job_of
            }
            both = [j for j in reported if j in asked and j in scaled_at]
            if not asked:  # the floor: its requests are not the operator's
                return [
                    "Deployment there, from the storm's start: "
                    + scale.quantiles(scaled_at[j] - since for j in scaled_at),
                    "Deployment there -> phase reported: "
                    + scale.quantiles(
                        reported[j] - scaled_at[j] for j in reported if j in scaled_at
                    ),
                ]
            return [
                "spec patch -> scale PATCH: " + scale.quantiles(asked[j] - since for j in both),
                "scale PATCH -> Deployment there: "
                + scale.quantiles(scaled_at[j] - asked[j] for j in both),
                "Deployment there -> phase reported: "
                + scale.quantiles(reported[j] - scaled_at[j] for j in both),
                "Deployment there, from the storm's start: "
                + scale.quantiles(scaled_at[j] - since for j in both),
            ]

        table = scale.Table(header(f"{JOBS} SyncJobs, scale backend (one Deployment each, kwok)"))
        run_fleet(
            p,
            table,
            ns,
            jobs,
            Floor(scaled(0), scaled(1), observe),
            check(0),
            check(1),
            timeline=timeline,
        )
    finally:
        deps.stop()
    print("\n" + table.render())
    # The last test: its plane goes with the module, no need to wait.
    p.kube.kubectl("delete", "namespace", ns, "--wait=false")
