"""Twenty connectors on the real Connect worker, paused and resumed at once by their SyncJobs.

The short version of the scale bench's Connect fleet
(tests/bench/test_scale_bench.py) for ``make test``: twenty of Kafka's own
FileStreamSource connectors (each on a one-line file: a real connector and
task, in the CDC stage once their one record is sent) on the session
pipeline's worker, one SyncJob each, one storm of ``spec.paused`` patches
and then another.  No time is asserted: only that every job converges and
Connect itself says every connector and task is PAUSED, then RUNNING.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from tests.env import pipeline
from tests.helpers import scale
from tests.helpers.kube import Kube
from tests.helpers.operator import OperatorProcess
from tests.helpers.polling import wait_for

CONNECTORS = 20
TIMEOUT_S = 60.0


def test_storms_of_twenty_connect_jobs(
    kube: Kube,
    operator: OperatorProcess,
    e2e_pipeline: pipeline.Pipeline,
    namespace: str,
    tmp_path: Path,
) -> None:
    prefix = f"storm-{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{i:02d}" for i in range(CONNECTORS)]
    rest = httpx.Client(base_url=e2e_pipeline.connect.url, timeout=30)
    api = scale.Api(kube.kubeconfig)
    watch = scale.Collection(api, scale.syncjobs_path(namespace)).start()
    try:
        scale.in_parallel(
            lambda n: rest.put(
                f"/connectors/{n}/config", json=scale.file_source(tmp_path, n, f"{prefix}-lines")
            ).raise_for_status(),
            names,
        )
        wait_for(
            "connectors RUNNING",
            lambda: scale.connectors_all_in(rest, names, "RUNNING"),
            timeout=TIMEOUT_S,
        )
        jobs = []
        for n in names:
            job = scale.connect_job(n, e2e_pipeline.connect.url, n)
            job["spec"]["onDelete"] = "Leave"  # the connectors go with the test
            jobs.append(job)
        scale.create_all(api, scale.syncjobs_path(namespace), jobs)
        watch.wait("every job Running", scale.phase_is("Running"), names=names, timeout=TIMEOUT_S)

        for paused, state in ((True, "PAUSED"), (False, "RUNNING")):
            scale.storm(api, watch, namespace, names, paused=paused, timeout=TIMEOUT_S)
            assert scale.connectors_all_in(rest, names, state), scale.connector_states(rest, names)
            assert {o["status"].get("stage") for o in watch.objects.values()} == {"CDC"}
    finally:
        watch.stop()
        kube.kubectl("delete", "syncjobs", "--all", "-n", namespace, "--timeout=60s", check=False)
        for n in names:
            rest.delete(f"/connectors/{n}")
        rest.close()
        api.close()
