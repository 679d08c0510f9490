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

import pytest

from tests.env import pipeline
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


def _all_say(api: storm.Api, namespace: str, reasons: dict[str, str]) -> dict[str, str] | None:
    """None once every job named has Ready=False with its reason; else who says what."""
    conds = storm.conditions_of(api, namespace)
    other = {
        name: f"{c.get('status')}/{c.get('reason')} (want False/{reason})"
        for name, reason in reasons.items()
        if (c := conds.get(name, {}).get("Ready", {})).get("reason") != reason
        or c.get("status") != "False"
    }
    return other or None


def wait_all_say(api: storm.Api, namespace: str, reasons: dict[str, str]) -> None:
    wait_for(
        f"every job Ready=False with {set(reasons.values())}",
        lambda: _all_say(api, namespace, reasons) is None,
        timeout=60,
        interval=0.5,
        detail=lambda: str(_all_say(api, namespace, reasons)),
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
            # A job resuming its own workloads reads Connect not answering as
            # its workers not back yet (README, "The ways to pause"): no error;
            # unless they had no Pods to bring back (0 replicas).
            resuming = i % 2 == 1
            wait_all_say(
                api,
                namespace,
                {
                    job.name: "Resuming" if resuming and job.replicas else reason
                    for job in storm_jobs
                },
            )
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


def test_slow_connect_in_a_storm(
    kube: Kube,
    operator: OperatorProcess,
    e2e_pipeline: pipeline.Pipeline,
    namespace: str,
    api: storm.Api,
    storm_jobs: list[storm.StormJob],
) -> None:
    """Answers 10 s late during a storm: jobs whose requestTimeout is shorter
    say ConnectTimeout, the patient ones converge through the slow answers,
    and all do once Connect is quick again.  (A real rebalance, a second
    worker joining mid-storm, is in tests/bench/test_fault_storms_bench.py:
    a worker's start alone is a minute on a loaded 2-core machine.)"""
    storm_jobs.extend(storm.plan(8, kinds=("connect",), prefix="slow"))
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
        wait_all_say(api, namespace, dict.fromkeys(hasty, "ConnectTimeout"))
        proxy.set_mode(Mode.PASS)
        storm.wait_converged(api, worker, namespace, storm_jobs, wanted, timeout=60)

    assert operator.proc is not None and operator.proc.poll() is None, "the operator died"
    assert failures_logged(operator, log_offset) == []
