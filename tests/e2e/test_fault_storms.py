"""Faults under load that lose nothing: operator kills and Connect faults during storms.

Tens of jobs at once (scale jobs on kwok Deployments, Connect jobs on the
real worker, and jobs with both; tests/helpers/storm.py), every one flipped
together, while the operator is SIGKILLed and restarted, or while the fault
proxy in front of the real Connect worker answers 5xx, hangs, refuses, drops,
answers 10 s late or 409s, or a second real worker joins the group and the
connectors rebalance.  The end is always the same question of every job: do
the Deployment, its Pods, the connectors and tasks, and the SyncJob's phase
match the spec?  The long versions are in tests/bench/test_fault_storms_bench.py.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.env import pipeline
from tests.env.connect import ConnectWorker, start_connect
from tests.env.faultproxy import Mode, ThreadedFaultProxy
from tests.helpers import storm
from tests.helpers.kube import Kube
from tests.helpers.operator import OperatorProcess
from tests.helpers.polling import wait_for

# Connect's own words for a request refused during a rebalance (ConnectRestException 409).
REBALANCE_MESSAGE = (
    "Cannot complete request because of a conflicting operation (e.g. worker rebalance)"
)


@pytest.fixture
def api(kube: Kube) -> Iterator[storm.Api]:
    client = storm.Api(kube)
    yield client
    client.close()


@pytest.fixture
def storm_jobs(e2e_pipeline: pipeline.Pipeline) -> Iterator[list[storm.StormJob]]:
    """The test's jobs (it fills the list); their connectors deleted after it."""
    jobs: list[storm.StormJob] = []
    yield jobs
    storm.delete_connectors(e2e_pipeline, jobs)


def failures_logged(operator: OperatorProcess, offset: int) -> list[str]:
    """Passes that raised (a traceback each) since ``offset`` of the operator's log."""
    text = operator.log.read_text(errors="replace")[offset:]
    return [line[:300] for line in text.splitlines() if "reconcile of" in line and "failed" in line]


def test_kill_storm_every_job_ends_at_its_spec(
    kube: Kube,
    operator: OperatorProcess,
    e2e_pipeline: pipeline.Pipeline,
    namespace: str,
    api: storm.Api,
    storm_jobs: list[storm.StormJob],
) -> None:
    """5 SIGKILLs of the operator at random moments of pause and resume storms of
    24 jobs (scale with 0, 1 and 3 replicas, Connect, both): each job ends
    exactly at its spec."""
    storm_jobs.extend(storm.plan(24, prefix="kill"))
    storm.ensure_nodes(api, pods=sum(j.replicas or 0 for j in storm_jobs))
    storm.create(api, namespace, storm_jobs, p=e2e_pipeline)
    running = {job.name: False for job in storm_jobs}
    storm.wait_converged(
        api, e2e_pipeline.connect, namespace, storm_jobs, running, timeout=90,
        detail=operator.tail,
    )  # fmt: skip
    seed = random.randrange(1 << 30)
    print(f"\n[kill storm] seed {seed}")
    wanted = storm.kill_storm(
        operator, api, namespace, storm_jobs, kills=5, seed=seed, max_gap_s=4.0
    )
    restarted = time.monotonic()
    times = storm.wait_converged(
        api, e2e_pipeline.connect, namespace, storm_jobs, wanted, timeout=90,
        since=restarted, detail=operator.tail,
    )  # fmt: skip
    print(f"[kill storm] 5 kills; converged after the last restart: {storm.summary(times)}")
    assert sum(wanted.values()) == len(storm_jobs) // 2  # both directions at the end
    assert operator.proc is not None and operator.proc.poll() is None


def _all_say(
    api: storm.Api, namespace: str, names: list[str], reason: str
) -> dict[str, str] | None:
    """None once every job named has Ready=False with ``reason``; else who says what."""
    conds = storm.conditions_of(api, namespace)
    other = {
        name: f"{c.get('status')}/{c.get('reason')}"
        for name in names
        if (c := conds.get(name, {}).get("Ready", {})).get("reason") != reason
        or c.get("status") != "False"
    }
    return other or None


def wait_all_say(api: storm.Api, namespace: str, names: list[str], reason: str) -> None:
    wait_for(
        f"every job Ready=False/{reason}",
        lambda: _all_say(api, namespace, names, reason) is None,
        timeout=60,
        interval=0.5,
        detail=lambda: str(_all_say(api, namespace, names, reason)),
    )


def test_connect_faults_in_storms_are_named_and_heal(
    kube: Kube,
    operator: OperatorProcess,
    e2e_pipeline: pipeline.Pipeline,
    namespace: str,
    api: storm.Api,
    storm_jobs: list[storm.StormJob],
) -> None:
    """Each fault during a storm of 16 Connect and mixed jobs: every job's Ready
    condition names it, none reports a phase it has not seen, the operator
    keeps running without a failing pass, and every job converges once
    Connect is healthy again."""
    storm_jobs.extend(storm.plan(16, kinds=("connect", "mixed"), prefix="cf"))
    storm.ensure_nodes(api, pods=sum(j.replicas or 0 for j in storm_jobs))
    names = [job.name for job in storm_jobs]
    log_offset = operator.log.stat().st_size
    worker = e2e_pipeline.connect
    with ThreadedFaultProxy("127.0.0.1", worker.port) as proxy:
        storm.create(
            api, namespace, storm_jobs, p=e2e_pipeline, connect_url=proxy.url, request_timeout="2s"
        )
        wanted = {name: False for name in names}
        storm.wait_converged(api, worker, namespace, storm_jobs, wanted, timeout=90)
        faults = [
            (Mode.HTTP_ERROR, {"status": 500}, "ConnectServerError"),
            (Mode.HANG, {}, "ConnectTimeout"),
            (Mode.REFUSE, {}, "ConnectUnreachable"),
            (Mode.DROP, {}, "ConnectConnectionDropped"),
            (Mode.HTTP_ERROR, {"status": 409, "message": REBALANCE_MESSAGE}, "ConnectRebalancing"),
        ]
        for i, (mode, kwargs, reason) in enumerate(faults):
            proxy.set_mode(mode, **kwargs)  # type: ignore[arg-type]
            wanted = {name: i % 2 == 0 for name in names}  # pause, resume, pause, ...
            storm.set_paused(api, namespace, wanted)
            wait_all_say(api, namespace, names, reason)
            # Nothing got through: no job may say it got where it was going.
            target = "Paused" if i % 2 == 0 else "Running"
            phases = {
                n: (o.get("status") or {}).get("phase")
                for o in api.items(storm.syncjobs_path(namespace))
                if (n := o["metadata"]["name"]) in wanted
            }
            assert target not in phases.values(), (reason, phases)
            proxy.set_mode(Mode.PASS)
            storm.wait_converged(
                api, worker, namespace, storm_jobs, wanted, timeout=60, detail=operator.tail
            )
    assert operator.proc is not None and operator.proc.poll() is None, "the operator died"
    assert failures_logged(operator, log_offset) == []


def test_slow_connect_and_a_real_rebalance_in_storms(
    kube: Kube,
    operator: OperatorProcess,
    e2e_pipeline: pipeline.Pipeline,
    namespace: str,
    api: storm.Api,
    storm_jobs: list[storm.StormJob],
    tmp_path: Path,
) -> None:
    """Answers 10 s late during a storm: jobs whose requestTimeout is shorter
    say ConnectTimeout, the patient ones converge through the slow answers.
    Then a second real worker joins the group during a storm (its connectors
    rebalance onto it) and leaves during the next: every job converges."""
    storm_jobs.extend(storm.plan(12, kinds=("connect", "mixed"), prefix="slow"))
    storm.ensure_nodes(api, pods=sum(j.replicas or 0 for j in storm_jobs))
    names = [job.name for job in storm_jobs]
    patient = names[::2]
    hasty = names[1::2]
    log_offset = operator.log.stat().st_size
    worker = e2e_pipeline.connect
    with ThreadedFaultProxy("127.0.0.1", worker.port) as proxy:
        storm.create(
            api, namespace, storm_jobs, p=e2e_pipeline, connect_url=proxy.url,
            request_timeout=lambda job: "25s" if job.name in patient else "2s",
        )  # fmt: skip
        wanted = {name: False for name in names}
        storm.wait_converged(api, worker, namespace, storm_jobs, wanted, timeout=90)

        proxy.set_mode(Mode.DELAY, delay_s=10)
        wanted = {name: True for name in names}
        storm.set_paused(api, namespace, wanted)
        slow = [job for job in storm_jobs if job.name in patient]
        times = storm.wait_converged(
            api, worker, namespace, slow, wanted, timeout=100, detail=operator.tail
        )
        print(f"\n[slow Connect] paused through 10 s answers: {storm.summary(times)}")
        wait_all_say(api, namespace, hasty, "ConnectTimeout")
        proxy.set_mode(Mode.PASS)
        storm.wait_converged(api, worker, namespace, storm_jobs, wanted, timeout=60)

        # A real rebalance: a second worker joins the group mid-storm, then leaves.
        wanted = {name: False for name in names}
        storm.set_paused(api, namespace, wanted)
        second = start_connect(tmp_path / "worker-2", worker.bootstrap, heap="512m")
        try:
            storm.wait_converged(
                api, worker, namespace, storm_jobs, wanted, timeout=90, detail=operator.tail
            )
            moved = wait_for(
                "connectors rebalanced onto the second worker",
                lambda: _on_worker(worker, names_of(storm_jobs), second.port),
                timeout=60,
            )
            print(f"[rebalance] {moved} connectors or tasks on the second worker")
            wanted = {name: True for name in names}
            storm.set_paused(api, namespace, wanted)
            time.sleep(1)
        finally:
            second.stop()  # it leaves during the storm: a second rebalance
        storm.wait_converged(
            api, worker, namespace, storm_jobs, wanted, timeout=90, detail=operator.tail
        )
    assert operator.proc is not None and operator.proc.poll() is None, "the operator died"
    assert failures_logged(operator, log_offset) == []


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
