"""Benchmark: the operator's memory at its start-up peak, with many SyncJobs waiting.

The scale bench's start-up (the operator spawned with ``STARTUP_JOBS``
(1,000) scale-backend SyncJobs that it never saw) is where its RSS is
highest.  This bench repeats only that, on a control plane of its own:

1. the operator as the chart runs it: time to every job Running, RSS then,
   and its peak RSS (VmHWM);
2. the same with allocation tracing on (tests/bench/memhook): the traced
   memory at its peak and the allocation sites that held it, per job.

Between runs the SyncJobs lose their status and Kopf's finalizer, so each
run starts from objects it never saw.  Nothing is asserted but convergence.
"""

from __future__ import annotations

import json
import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bench.fleet import Plane, fleet_plane, spawn_until_running
from tests.bench.test_memory_bench import HOOK, _short
from tests.helpers import manifests, polling, scale

JOBS = int(os.environ.get("STARTUP_JOBS", "1000"))
FRAMES = int(os.environ.get("MEMORY_FRAMES", "4"))
TIMEOUT_S = 120.0 + JOBS * 1.0
TOP = 25
pytestmark = pytest.mark.timeout(1800 + 4 * int(TIMEOUT_S))


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    with fleet_plane(tmp_path_factory.mktemp("startup"), JOBS) as p:
        yield p


def test_startup_peak(plane: Plane) -> None:
    p, api, ns = plane, plane.api, "startup-bench"
    p.kube.kubectl("create", "namespace", ns)
    deployments, jobs = scale.scale_fleet(JOBS)
    names = list(jobs)
    deps = scale.Collection(api, scale.deployments_path(ns)).start()
    scale.create_all(
        api, scale.deployments_path(ns), [manifests.deployment(d, 1) for d in deployments]
    )
    deps.wait("Deployments Ready", scale.replicas_are(1), names=deployments, timeout=TIMEOUT_S)
    deps.stop()
    scale.create_all(api, scale.syncjobs_path(ns), list(jobs.values()))
    watch = scale.Collection(api, scale.syncjobs_path(ns)).start()
    report: list[str] = []
    try:
        watch.wait("SyncJobs listed", lambda _: True, names=names, timeout=120)

        def run(label: str, env: dict[str, str]) -> float:
            op, pid, took = spawn_until_running(
                p, p.tmp / f"operator-{label}.log", watch, names, timeout=TIMEOUT_S, env=env
            )
            try:
                rss, peak = scale.rss_mib(pid), scale.rss_mib(pid, "VmHWM")
                split = rss_by_mapping(pid)
            finally:
                op.stop()
            report.append(
                f"{label}: every job Running {took:.1f} s after spawn; RSS then "
                f"{rss:.1f} MiB, peak (VmHWM) {peak:.1f} MiB; RSS then by mapping: "
                + ", ".join(f"{k} {v:.1f}" for k, v in split.items())
            )
            print("\n" + report[-1], flush=True)
            # The next run starts from SyncJobs it never saw, as this one did.
            scale.strip_finalizers(api, ns, names)
            scale.clear_status(api, watch, ns, names)
            return peak

        variants: dict[str, dict[str, str]] = json.loads(
            os.environ.get("STARTUP_VARIANTS", '{"as shipped": {}}')
        )
        for label, env in variants.items():
            run(label, env)
        folder = p.tmp / "peak"
        folder.mkdir()
        run(
            "traced",
            {
                "PYTHONPATH": str(HOOK),
                "SYNCJOB_MEMORY_SNAPSHOTS": str(folder),
                "SYNCJOB_MEMORY_FRAMES": str(FRAMES),
                "SYNCJOB_MEMORY_PEAK": "1",
            },
        )
        report += traced_peak(folder)
    finally:
        watch.stop()
    print("\n" + "\n".join(report))
    p.kube.kubectl("delete", "namespace", ns, "--wait=false")


def rss_by_mapping(pid: int) -> dict[str, float]:
    """The process's RSS (MiB) by kind of mapping, from /proc/PID/smaps.

    glibc's main heap is ``[heap]``; CPython's object arenas are anonymous
    mappings of 1 MiB; glibc's per-thread arenas are anonymous mappings of
    up to 64 MiB; the rest is code, libraries and large single allocations.
    """
    kinds: dict[str, float] = {"heap": 0.0, "arenas 1 MiB": 0.0, "other anonymous": 0.0}
    kinds["files"] = 0.0
    size_kib, kind = 0, "files"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5:  # a mapping's header
            start, end = (int(x, 16) for x in fields[0].split("-"))
            size_kib = (end - start) // 1024
            name = fields[5] if len(fields) > 5 else ""
            if name == "[heap]":
                kind = "heap"
            elif name:
                kind = "files"
            elif size_kib == 1024:
                kind = "arenas 1 MiB"
            else:
                kind = "other anonymous"
        elif fields[0] == "Rss:":
            kinds[kind] += int(fields[1]) / 1024
    return kinds


def traced_peak(folder: Path) -> list[str]:
    polling.wait_for("a peak snapshot", (folder / "peak.json").exists, timeout=10, interval=0.5)
    at = json.loads((folder / "peak.json").read_text())
    snap = tracemalloc.Snapshot.load(str(folder / "peak.tracemalloc"))
    total = sum(s.size for s in snap.statistics("filename"))
    lines = [
        f"traced peak: {at['traced_kib'] / 1024:.1f} MiB traced ({at['traced_kib'] / JOBS:.1f} "
        f"KiB a job), RSS then {at['rss_kib'] / 1024:.1f} MiB; sites ({FRAMES} frames), KiB a job:"
    ]
    for stat in snap.statistics("traceback")[:TOP]:
        where = " <- ".join(
            f"{_short(f.filename)}:{f.lineno}" for f in reversed(list(stat.traceback))
        )
        lines.append(f"  {stat.size / 1024 / JOBS:8.2f}  {stat.count / JOBS:7.1f} blocks  {where}")
    lines.append(f"  (all sites: {total / 2**20:.1f} MiB)")
    return lines
