"""Benchmark: where the operator's memory goes, per SyncJob.

One operator process as the chart runs it, on a control plane of its own
(kwok), with allocation tracing on (tests/bench/memhook/sitecustomize.py).
Snapshots are taken idle with no SyncJob, once ``MEMORY_JOBS`` (300)
scale-backend SyncJobs are Running and their follow-up passes are over, and
again after a pause storm and a resume storm.  Printed: RSS and traced
memory at each, their growth per job, and the allocation sites and object
types that grew most, per job.  Tracing makes the process bigger and slower,
so its RSS is not the shipped one (the scale bench measures that); what this
bench is for is the split, site by site.  Nothing is asserted but that the
jobs converged.
"""

from __future__ import annotations

import json
import os
import signal
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bench.fleet import Plane, fleet_plane, shipped_operator
from tests.helpers import manifests, polling, scale

JOBS = int(os.environ.get("MEMORY_JOBS", "300"))
FRAMES = int(os.environ.get("MEMORY_FRAMES", "4"))
# Longer than a resync (30 s): every job's first passes and their follow-ups are over.
SETTLE_S = 40.0
STORM_TIMEOUT_S = 120.0 + JOBS * 2.0
TOP = 25
HOOK = Path(__file__).parent / "memhook"
pytestmark = pytest.mark.timeout(1800 + 4 * int(STORM_TIMEOUT_S))


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    with fleet_plane(tmp_path_factory.mktemp("memory"), JOBS) as p:
        yield p


def snapshot(pid: int, folder: Path) -> tuple[tracemalloc.Snapshot, dict[str, int], float]:
    """Ask the operator for a snapshot; it, the live objects by type, and its RSS then.

    The hook trims the heap after each snapshot (glibc ``malloc_trim``), so
    the RSS of the next one is of a process that was trimmed once: what
    trimming gave back is printed with each step.
    """
    index = sum(1 for n in os.listdir(folder) if n.endswith(".done"))
    rss = scale.rss_mib(pid)
    os.kill(pid, signal.SIGUSR2)
    done = folder / f"snap-{index}.done"
    polling.wait_for(f"snapshot {index}", done.exists, timeout=300, interval=0.5)
    snap = tracemalloc.Snapshot.load(str(folder / f"snap-{index}.tracemalloc"))
    trim = json.loads((folder / f"snap-{index}.trim.json").read_text())
    print(
        f"snapshot {index}: RSS {trim['before_kib'] / 1024:.1f} MiB, "
        f"{trim['after_kib'] / 1024:.1f} MiB after malloc_trim"
    )
    types = json.loads((folder / f"snap-{index}.types.json").read_text())
    return snap, types, rss


def traced_mib(snap: tracemalloc.Snapshot) -> float:
    return sum(s.size for s in snap.statistics("filename")) / 2**20


def growth(
    before: tuple[tracemalloc.Snapshot, dict[str, int], float],
    after: tuple[tracemalloc.Snapshot, dict[str, int], float],
    what: str,
) -> list[str]:
    """The report of one step: totals per job, then the sites and types that grew most."""
    (snap0, types0, rss0), (snap1, types1, rss1) = before, after
    t0, t1 = traced_mib(snap0), traced_mib(snap1)
    lines = [
        f"== {what}",
        f"RSS {rss0:.1f} -> {rss1:.1f} MiB ({1024 * (rss1 - rss0) / JOBS:+.1f} KiB a job); "
        f"traced {t0:.1f} -> {t1:.1f} MiB ({1024 * (t1 - t0) / JOBS:+.1f} KiB a job)",
        f"allocation sites that grew most ({FRAMES} frames each, innermost first), KiB a job:",
    ]
    for stat in snap1.compare_to(snap0, "traceback")[:TOP]:
        where = " <- ".join(
            f"{_short(f.filename)}:{f.lineno}" for f in reversed(list(stat.traceback))
        )
        lines.append(
            f"  {stat.size_diff / 1024 / JOBS:8.2f}  {stat.count_diff / JOBS:7.1f} blocks  {where}"
        )
    lines.append("live objects (gc-tracked) that grew most, per job:")
    diffs = sorted(
        ((types1.get(k, 0) - types0.get(k, 0), k) for k in set(types0) | set(types1)),
        reverse=True,
    )
    lines += [f"  {n / JOBS:8.2f}  {k}" for n, k in diffs[:TOP]]
    return lines


def _short(filename: str) -> str:
    for marker in ("site-packages/", "syncjob_operator/", "lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def test_memory_per_job(plane: Plane) -> None:
    p, api, ns = plane, plane.api, "memory-bench"
    p.kube.kubectl("create", "namespace", ns)
    deployments, jobs = scale.scale_fleet(JOBS)
    names = list(jobs)
    folder = p.tmp / "snapshots"
    folder.mkdir()
    deps = scale.Collection(api, scale.deployments_path(ns)).start()
    watch: scale.Collection | None = None
    op = shipped_operator(
        p,
        p.tmp / "operator-memory.log",
        env={
            "PYTHONPATH": str(HOOK),
            "SYNCJOB_MEMORY_SNAPSHOTS": str(folder),
            "SYNCJOB_MEMORY_FRAMES": str(FRAMES),
        },
    )
    report: list[str] = []
    try:
        scale.create_all(
            api, scale.deployments_path(ns), [manifests.deployment(d, 1) for d in deployments]
        )
        deps.wait(
            "Deployments Ready", scale.replicas_are(1), names=deployments, timeout=STORM_TIMEOUT_S
        )
        # Listed once the CRD has long been served (a list right after the
        # chart's install can meet a 429 while the API server takes it in).
        watch = scale.Collection(api, scale.syncjobs_path(ns)).start()
        op.start()
        assert op.process is not None and op.process.pid
        pid = op.process.pid
        time.sleep(SETTLE_S)
        empty = snapshot(pid, folder)

        scale.create_all(api, scale.syncjobs_path(ns), list(jobs.values()))
        watch.wait(
            "every job Running", scale.phase_is("Running"), names=names, timeout=STORM_TIMEOUT_S
        )
        time.sleep(SETTLE_S)
        running = snapshot(pid, folder)

        for paused in (True, False):
            scale.storm(api, watch, ns, names, paused=paused, timeout=STORM_TIMEOUT_S)
        time.sleep(SETTLE_S)
        stormed = snapshot(pid, folder)

        report += growth(empty, running, f"{JOBS} SyncJobs created and Running")
        report += growth(running, stormed, "after a pause storm and a resume storm")
    finally:
        op.stop()
        if watch is not None:
            watch.stop()
        deps.stop()
    print("\n" + "\n".join(report))
    scale.strip_finalizers(api, ns, names)
    p.kube.kubectl("delete", "namespace", ns, "--wait=false")
