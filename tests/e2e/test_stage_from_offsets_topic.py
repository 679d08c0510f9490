"""A job without spec.connect is held until CDC by the real Connect worker's offsets topic.

Everything is real: PostgreSQL, Kafka, the Connect worker running Debezium and
the MongoDB sink, the control plane and the operator process.  The SyncJob
pauses by scaling a Deployment (kwok's Pods: it stands for the job's
connector pods) and has no spec.connect, so Connect's REST API is no help:
the stage comes from the worker's ``offset.storage.topic`` through spec.kafka,
the source connector named in spec.kafka.sourceConnectors.  Paused during a
slow snapshot, it waits in PausePending until Debezium's committed offsets
say the snapshot is over, then scales the Deployment to zero.

The test also reads the topic itself and prints what the worker wrote, and
checks it is the format tests/helpers/offsets.py writes for the tests that
run without Connect.
"""

from __future__ import annotations

import json
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from syncjob_operator.decide import stage
from tests.env import pipeline
from tests.helpers import offsets as offsets_helpers
from tests.helpers.jobs import Job, event_reasons, patch_paused, status, wait_phase
from tests.helpers.kube import Kube
from tests.helpers.manifests import deployment, syncjob, workload_ref
from tests.helpers.status import condition


def offsets_topic(p: pipeline.Pipeline) -> str:
    """The worker's offset.storage.topic (tests/env/connect.py names it after its group)."""
    return f"{p.connect.group_id}-offsets"


def topic_records(
    p: pipeline.Pipeline, timeout_s: float = 30.0
) -> list[tuple[bytes, bytes | None]]:
    """Every record of the offsets topic, in order, as (key, value) bytes."""
    consumer = Consumer(
        {
            "bootstrap.servers": p.kafka.bootstrap,
            "group.id": "e2e-offsets-dump",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        topic = offsets_topic(p)
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, n, OFFSET_BEGINNING) for n in partitions])
        records: list[tuple[bytes, bytes | None]] = []
        ended: set[int] = set()
        deadline = time.monotonic() + timeout_s
        while len(ended) < len(partitions):
            assert time.monotonic() < deadline, "the offsets topic was not read to its end"
            for m in consumer.consume(500, timeout=0.5):
                err = m.error()
                if err is not None and err.code() == KafkaError._PARTITION_EOF:
                    ended.add(int(m.partition() or 0))
                elif err is None:
                    records.append((bytes(m.key() or b""), m.value()))  # type: ignore[arg-type]
        return records
    finally:
        consumer.close()


def of(records: list[tuple[bytes, bytes | None]], connector: str) -> list[tuple[Any, Any]]:
    out = []
    for key, value in records:
        parsed = json.loads(key)
        if parsed[0] == connector:
            out.append((parsed, None if value is None else json.loads(value)))
    return out


def test_a_job_without_connect_waits_in_pause_pending_until_the_real_connector_streams(
    kube: Kube, new_job: Any, e2e_pipeline: pipeline.Pipeline
) -> None:
    job: Job = new_job(rows=200, slow_snapshot_s=0.04)  # ~8 s of snapshot
    kube.apply(deployment("dbz", 2), namespace=job.namespace)
    spec = {
        "workloads": [workload_ref("dbz")],
        "kafka": {
            "bootstrapServers": e2e_pipeline.kafka.bootstrap,
            "offsetsTopic": offsets_topic(e2e_pipeline),
            "sourceConnectors": [job.source],
        },
    }
    kube.apply(syncjob(job.name, spec), namespace=job.namespace)
    kube.wait_for(
        "stage Snapshot", lambda: status(kube, job).get("stage") == "Snapshot", timeout=60
    )

    patch_paused(kube, job, True)
    pending = wait_phase(kube, job, "PausePending", timeout=30)
    paused = condition(pending, "Paused")
    assert paused is not None and paused["reason"] == "WaitingForCDCStage", paused
    assert f"connector {job.source} still in the initial snapshot" in paused["message"], paused
    assert "PauseDeferred" in event_reasons(kube, job)
    scaled = kube.get("deployment", "dbz", job.namespace)
    assert scaled is not None and scaled["spec"]["replicas"] == 2  # held while it snapshots

    done = wait_phase(kube, job, "Paused", timeout=120)
    assert done["status"]["stage"] == "CDC"
    assert (condition(done, "Paused") or {}).get("reason") == "Paused"
    scaled = kube.get("deployment", "dbz", job.namespace)
    assert scaled is not None and scaled["spec"]["replicas"] == 0
    # The snapshot was not cut short: it was over when the pause went ahead.
    kube.wait_for("200 documents", lambda: job.collection.count_documents({}) == 200, timeout=60)
    assert "StageCDC" in event_reasons(kube, job)

    # What the worker wrote: the format tests/helpers/offsets.py writes.
    records = of(topic_records(e2e_pipeline), job.source)
    print(f"\n[e2e] {offsets_topic(e2e_pipeline)} records of {job.source} ({len(records)}):")
    for key, value in records[:3] + records[-2:]:
        print(f"  {json.dumps(key)} -> {json.dumps(value)}")
    assert records, "the worker wrote no offsets of the source connector"
    assert all(key == [job.source, {"server": job.topic}] for key, _ in records), records[:3]
    raw_key = offsets_helpers.key(job.source, job.topic)
    assert all(
        k == raw_key for k, _ in topic_records(e2e_pipeline) if json.loads(k)[0] == job.source
    )
    stages = [stage.offset_stage(v) for _, v in records if v is not None]
    assert stages[0] == "Snapshot" and stages[-1] == "CDC", stages
    # Connect's own REST answer (read a moment later) says the same.
    served = e2e_pipeline.connect.offsets(job.source)["offsets"]
    assert [o["partition"] for o in served] == [{"server": job.topic}]
    assert stage.connector_stage([o["offset"] for o in served]) == "CDC"

    patch_paused(kube, job, False)
    wait_phase(kube, job, "Running")


def test_connects_answers_the_operator_reads_as_no_offsets_endpoint(
    e2e_pipeline: pipeline.Pipeline, new_job: Any
) -> None:
    """The real worker's 404s, as the Connect client tells them apart (tests/unit pins them).

    A Connect older than 3.5 has no /offsets resource: it answers as this one
    does for any path it has none for.  A connector that does not exist is
    named in the 404.
    """
    job: Job = new_job(rows=1)
    no_path = e2e_pipeline.connect.request("GET", f"/connectors/{job.source}/no-such-resource")
    assert no_path.status_code == 404
    assert no_path.json() == {"error_code": 404, "message": "HTTP 404 Not Found"}
    no_connector = e2e_pipeline.connect.request("GET", "/connectors/no-such-connector/offsets")
    assert no_connector.status_code == 404
    assert no_connector.json() == {
        "error_code": 404,
        "message": "Connector no-such-connector not found",
    }
    wrong_method = e2e_pipeline.connect.request("POST", f"/connectors/{job.source}/status")
    assert wrong_method.status_code == 405, wrong_method.text
    print(
        f"\n[e2e] Connect's answers: 404 {no_path.text}, 404 {no_connector.text}, "
        f"405 {wrong_method.text}"
    )
