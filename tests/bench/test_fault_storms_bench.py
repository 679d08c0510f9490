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

from tests.env import artifacts, pipeline
from tests.env.connect import MONGO_SINK_CLASS, ConnectWorker, start_connect
from tests.helpers import storm
from tests.helpers.kube import Kube
from tests.helpers.operator import OperatorProcess, own_operator, stood_down
from tests.helpers.polling import wait_for

JOBS = int(os.environ.get("SYNCJOB_BENCH_STORM_JOBS", "120"))
KILLS = int(os.environ.get("SYNCJOB_BENCH_STORM_KILLS", "50"))


@pytest.fixture
def api(kube: Kube) -> Iterator[storm.Api]:
    client = storm.Api(kube)
    yield client
    client.close()


# Watching all namespaces, as the session operator does: with --namespace
# Kopf first tries to list namespaces, which the chart's RBAC does not grant,
# and starts acting only after its retries give up (55 s per start).
@pytest.mark.timeout(3600)
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
                operator, tmp_path / "operator.log",
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


@pytest.mark.timeout(1800)
def test_a_real_rebalance_during_storms(
    kube: Kube,
    operator: OperatorProcess,
    e2e_pipeline: pipeline.Pipeline,
    namespace: str,
    api: storm.Api,
    tmp_path: Path,
) -> None:
    """A second real worker joins the Connect group during a pause storm (the
    connectors rebalance onto it), and leaves during the resume storm (they
    rebalance back): every job converges both times."""
    jobs = storm.plan(30, kinds=("connect", "mixed"), prefix="bench-rb")
    storm.ensure_nodes(api, pods=sum(j.replicas or 0 for j in jobs))
    worker = e2e_pipeline.connect
    names = [job.name for job in jobs]
    try:
        storm.create(api, namespace, jobs, p=e2e_pipeline)
        wanted = {name: False for name in names}
        storm.wait_converged(api, worker, namespace, jobs, wanted, timeout=180)
        wanted = {name: True for name in names}
        storm.set_paused(api, namespace, wanted)
        joined = time.monotonic()
        # Only what the sinks use: scanning every plugin is minutes on a busy
        # machine.  The sink's plugin, and Debezium's (its ExtractNewRecordState
        # transform is in the sink's config: without it every sink that moved
        # here FAILED to start).  plugin.path names a folder of plugin folders
        # (a folder of jars would make each jar a plugin of its own).
        plugins = artifacts.kafka_home() / "plugins"
        sink_plugins = tmp_path / "sink-plugins"
        sink_plugins.mkdir()
        for name in ("mongo-kafka-connect", "debezium-connector-postgres"):
            (sink_plugins / name).symlink_to(plugins / name, target_is_directory=True)
        second = start_connect(
            tmp_path / "worker-2",
            worker.bootstrap,
            heap="512m",
            required_plugins=(MONGO_SINK_CLASS,),
            extra_props={"plugin.path": str(sink_plugins)},
            timeout_s=600,
        )
        try:
            moved = wait_for(
                "connectors rebalanced onto the second worker",
                lambda: _on_worker(worker, names_of(jobs), second.port),
                timeout=120,
            )
            times = storm.wait_converged(
                api, worker, namespace, jobs, wanted, timeout=300, since=joined,
                detail=operator.tail,
            )  # fmt: skip
            print(
                f"\n[rebalance] {moved} connectors or tasks moved to the joining worker; "
                f"paused from the storm: {storm.summary(times)}"
            )
            wanted = {name: False for name in names}
            storm.set_paused(api, namespace, wanted)
            time.sleep(1)
        finally:
            second.stop()  # it leaves during the storm: a second rebalance
        left = time.monotonic()
        times = storm.wait_converged(
            api, worker, namespace, jobs, wanted, timeout=300, since=left, detail=operator.tail
        )
        print(f"[rebalance] running again after the worker left: {storm.summary(times)}")
        assert operator.proc is not None and operator.proc.poll() is None
    finally:
        storm.delete_connectors(e2e_pipeline, jobs)


def names_of(jobs: list[storm.StormJob]) -> list[str]:
    return [c for job in jobs for c in job.connectors]


def _on_worker(worker: ConnectWorker, connectors: list[str], port: int) -> int:
    """How many of these connectors and their tasks run on the worker at ``port``."""
    r = worker.request("GET", "/connectors?expand=status")
    r.raise_for_status()
    count = 0
    for name in connectors:
        st = r.json().get(name, {}).get("status") or {}
        ids = [st.get("connector", {}).get("worker_id", "")] + [
            t.get("worker_id", "") for t in st.get("tasks") or []
        ]
        count += sum(1 for i in ids if i.endswith(f":{port}"))
    return count
