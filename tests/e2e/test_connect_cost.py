"""What idle jobs cost a real Kafka Connect worker: one listing a resync, whatever their number.

Everything is real (the control plane, the operator with the chart's
ServiceAccount, a Connect worker with the MongoDB sink, FerretDB); the fault
proxy in front of the worker passes every request through and counts it by
method and target, so the test asserts what the worker is asked, not what
the operator says it does.  The connectors are MongoDB sinks on topics
nobody writes: real connectors whose tasks run and cost nothing.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from syncjob_operator.backends.connector_status import connector_states_from_listing
from tests.env import connectors, pipeline
from tests.env.faultproxy import ThreadedFaultProxy
from tests.helpers.kube import Kube
from tests.helpers.manifests import syncjob
from tests.helpers.operator import FAST_SETTINGS, OperatorProcess

JOBS = 8
LISTING = "GET /connectors?expand=status"
RESYNC_S = float(FAST_SETTINGS["SYNCJOB_RESYNC_INTERVAL"])


@pytest.fixture
def sinks(e2e_pipeline: pipeline.Pipeline) -> Iterator[list[str]]:
    """JOBS idle MongoDB sink connectors on the shared worker, deleted after the test."""
    tag = uuid.uuid4().hex[:6]
    names = [f"cost-{tag}-{i}" for i in range(JOBS)]
    worker = e2e_pipeline.connect
    for name in names:
        worker.put_connector(
            name,
            connectors.mongo_sink(
                e2e_pipeline.ferretdb.uri, topics=[f"{name}-idle"], database=f"cost_{tag}"
            ),
        )
    try:
        for name in names:
            worker.wait_state(name, "RUNNING", timeout_s=60)
        yield names
    finally:
        for name in names:
            worker.delete_connector(name)


def phase(kube: Kube, namespace: str, name: str) -> str | None:
    obj = kube.get("syncjob", name, namespace)
    return ((obj or {}).get("status") or {}).get("phase")


def wait_phases(kube: Kube, namespace: str, names: list[str], want: str) -> None:
    kube.wait_for(
        f"{len(names)} jobs {want}",
        lambda: all(phase(kube, namespace, n) == want for n in names),
        timeout=90,
    )


def per_connector(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if k != LISTING}


def test_idle_jobs_cost_one_listing_per_resync_and_pause_resume_still_land(
    kube: Kube,
    operator: OperatorProcess,
    e2e_pipeline: pipeline.Pipeline,
    namespace: str,
    sinks: list[str],
) -> None:
    worker = e2e_pipeline.connect
    # The real worker's listing reads as these connectors' states and types.
    listed = connector_states_from_listing(
        worker.request("GET", "/connectors?expand=status").json()
    )
    assert {n: (listed[n].state, listed[n].type) for n in sinks} == {
        n: ("RUNNING", "sink") for n in sinks
    }

    upstream = int(worker.url.rsplit(":", 1)[1])
    with ThreadedFaultProxy("127.0.0.1", upstream) as proxy:
        for name in sinks:
            spec = {"paused": False, "connect": {"url": proxy.url, "connectors": [name]}}
            kube.apply(syncjob(name, spec), namespace=namespace)
        wait_phases(kube, namespace, sinks, "Running")

        # Idle: a few resync intervals with nothing to do.
        proxy.reset_counts()
        started = time.monotonic()
        time.sleep(5 * RESYNC_S)
        counts = dict(proxy.request_counts())
        elapsed = time.monotonic() - started
        print(f"\n[cost] {JOBS} idle jobs, {elapsed:.1f} s at a {RESYNC_S:.0f} s resync: {counts}")
        assert per_connector(counts) == {}, counts
        # One listing a resync interval for all the jobs (one more for a window's edges).
        allowed = math.ceil(elapsed / RESYNC_S) + 1
        assert 1 <= counts.get(LISTING, 0) <= allowed, (counts, allowed)

        # A pause and a resume of one job land, through its own requests only.
        one, others = sinks[0], sinks[1:]
        proxy.reset_counts()
        kube.kubectl(
            "patch",
            "syncjob",
            one,
            "-n",
            namespace,
            "--type=merge",
            "-p",
            '{"spec":{"paused":true}}',
        )
        wait_phases(kube, namespace, [one], "Paused")
        status: Any = worker.status(one)
        assert status["connector"]["state"] == "PAUSED", status
        assert all(t["state"] == "PAUSED" for t in status["tasks"]), status
        wait_phases(kube, namespace, others, "Running")
        kube.kubectl(
            "patch",
            "syncjob",
            one,
            "-n",
            namespace,
            "--type=merge",
            "-p",
            '{"spec":{"paused":false}}',
        )
        wait_phases(kube, namespace, [one], "Running")
        assert worker.status(one)["connector"]["state"] == "RUNNING"
        counts = dict(proxy.request_counts())
        assert counts.get(f"PUT /connectors/{one}/pause") == 1, counts
        assert counts.get(f"PUT /connectors/{one}/resume") == 1, counts
        # Only the job that acted asked for its own connector's status.
        asked = {k.split("/")[2] for k in per_connector(counts)}
        assert asked == {one}, counts
        for name in sinks:
            kube.kubectl("delete", "syncjob", name, "-n", namespace, "--wait=true", "--timeout=60s")
