"""Benchmark: the kill storm at full size, 50 SIGKILLs of the operator during storms of 120 jobs.

40 scale jobs (kwok Deployments of 0, 1 and 3 replicas), 40 Connect jobs
(one MongoDB sink each on the real worker) and 40 with both
(tests/helpers/storm.py).  Every two kills a storm flips every job's
``spec.paused`` (half of them pausing, half resuming); each kill comes at a
random moment and is followed by a restart.  At the end every job must be at
its spec exactly (replica counts, ready Pods, connector and task states,
phase and Ready), and the time each took to get there after the last
restart is printed (max, p95, p50).  The short version (5 kills, 24 jobs) is
in tests/e2e/test_fault_storms.py.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.env import pipeline
from tests.helpers import storm
from tests.helpers.kube import Kube
from tests.helpers.operator import OperatorProcess, own_operator, stood_down

JOBS = int(os.environ.get("SYNCJOB_BENCH_STORM_JOBS", "120"))
KILLS = int(os.environ.get("SYNCJOB_BENCH_STORM_KILLS", "50"))


@pytest.fixture
def api(kube: Kube) -> Iterator[storm.Api]:
    client = storm.Api(kube)
    yield client
    client.close()


def test_kill_storm_full(
    kube: Kube,
    operator: OperatorProcess,
    e2e_pipeline: pipeline.Pipeline,
    namespace: str,
    api: storm.Api,
    tmp_path: Path,
) -> None:
    jobs = storm.plan(JOBS, prefix="bench-kill")
    storm.ensure_nodes(api, pods=sum(j.replicas or 0 for j in jobs))
    try:
        with stood_down(operator):
            # The production resync (30 s) would only make the idle passes
            # cheaper; the storm's work is the same.  10 s: a middle ground.
            op = own_operator(
                operator, tmp_path / "operator.log", args=("--namespace", namespace),
                settings={"SYNCJOB_RESYNC_INTERVAL": "10"},
            )  # fmt: skip
            op.start()
            try:
                storm.create(api, namespace, jobs, p=e2e_pipeline)
                started = time.monotonic()
                wanted = {job.name: False for job in jobs}
                times = storm.wait_converged(
                    api, e2e_pipeline.connect, namespace, jobs, wanted, timeout=300,
                    since=started, detail=op.tail,
                )  # fmt: skip
                print(f"\n[kill storm] {JOBS} jobs running at start: {storm.summary(times)}")
                seed = random.randrange(1 << 30)
                storm_started = time.monotonic()
                wanted = storm.kill_storm(op, api, namespace, jobs, kills=KILLS, seed=seed)
                restarted = time.monotonic()
                times = storm.wait_converged(
                    api, e2e_pipeline.connect, namespace, jobs, wanted, timeout=600,
                    since=restarted, detail=op.tail,
                )  # fmt: skip
                print(
                    f"[kill storm] seed {seed}: {KILLS} kills in {restarted - storm_started:.0f}s "
                    f"over {KILLS // 2} storms of {JOBS} jobs; converged after the last "
                    f"restart: {storm.summary(times)}"
                )
                assert op.proc is not None and op.proc.poll() is None
            finally:
                op.stop()
    finally:
        storm.delete_connectors(e2e_pipeline, jobs)
