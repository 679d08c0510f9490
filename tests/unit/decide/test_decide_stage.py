"""The decision, one pass per row: where the stage comes from, and what a pause does without one.

The stage is read from Kafka Connect's REST API where it serves the offsets,
from Connect's offsets topic where spec.kafka names the cluster, and from
nowhere otherwise: then the stage is Unknown, a pause goes ahead, and the
Paused condition says why (StageUnknown).  A pause that waits for CDC is
never silent: PausePending, Paused=False/WaitingForCDCStage and an Event, and
an offsets topic that cannot be read is a condition of its own while it
holds the pause.
"""

from __future__ import annotations

import pytest

from syncjob_operator.decide import reconcile
from syncjob_operator.decide.plan import KafkaConnectorAction, Pace, ScaleAction
from tests.helpers.decide_builders import (
    CDC,
    DBZ,
    SNAPSHOT,
    WL_ONLY_PAUSED,
    WL_ONLY_RUNNING,
    Row,
    before,
    check,
    check_whole,
    ctx,
    error,
    job,
    kc,
    pause,
    row,
    seen,
    sink,
    src,
    wl,
)

# A job paused by scaling its Debezium Deployment, its source connector named for the stage.
WL_KAFKA = {"sourceConnectors": ["pg"]}
WL_KAFKA_PAUSED = job(paused=True, connect=(), workloads=["dbz"], kafka=WL_KAFKA)
WL_KAFKA_RUNNING = job(connect=(), workloads=["dbz"], kafka=WL_KAFKA)
KC_KAFKA_PAUSED = job(paused=True, connect=(), strimzi=["kc"], kafka={})
OLD_CONNECT_PAUSED = job(paused=True)
OLD_CONNECT_KAFKA_PAUSED = job(paused=True, kafka={})
SINKS_HERE_SOURCES_IN_STRIMZI = job(paused=True, connect=("sink",), strimzi=["kc"], kafka={})


def kafka_error(reason: str = "KafkaUnreachable", *, transient: bool = True) -> object:
    return error(reason, transient=transient, backend="kafka")


STAGE_ROWS = [
    # --- the offsets topic tells the stage of a job without spec.connect ---
    row(
        "topic-snapshot-holds-a-workloads-pause",
        spec=WL_KAFKA_PAUSED,
        observed=seen(workloads=[wl(3)], topic={"pg": SNAPSHOT}),
        previous=before("Running", stage="Snapshot"),
        phase="PausePending",
        conditions={
            "Ready": "False/WaitingForCDCStage",
            "Reconciling": "True/WaitingForCDCStage",
            "Paused": "False/WaitingForCDCStage",
        },
        events=["PauseDeferred"],
        pace=Pace.WAITING,
    ),
    row(
        "topic-without-a-record-of-the-connector-is-pending-and-holds",
        spec=WL_KAFKA_PAUSED,
        observed=seen(workloads=[wl(3)], topic={"other-job": CDC}),
        previous=before("Running", stage=None),
        phase="PausePending",
        conditions={"Paused": "False/WaitingForCDCStage"},
        events=["PauseDeferred"],
        pace=Pace.WAITING,
    ),
    row(
        "topic-cdc-lets-the-workloads-pause",
        spec=WL_KAFKA_PAUSED,
        observed=seen(workloads=[wl(3)], topic={"pg": CDC}),
        previous=before("PausePending", stage="Snapshot"),
        actions=[ScaleAction(DBZ, 0, save=3)],
        phase="Pausing",
        events=["StageCDC", "Pausing"],
    ),
    row(
        "topic-snapshot-holds-a-strimzi-pause-named-after-the-kafkaconnector",
        spec=KC_KAFKA_PAUSED,
        observed=seen(strimzi=[kc("kc", "running", "RUNNING")], topic={"kc": SNAPSHOT}),
        previous=before("Running", stage="Snapshot"),
        phase="PausePending",
        events=["PauseDeferred"],
    ),
    row(
        "topic-cdc-lets-strimzi-pause",
        spec=KC_KAFKA_PAUSED,
        observed=seen(strimzi=[kc("kc", "running", "RUNNING")], topic={"kc": CDC}),
        previous=before("PausePending", stage="Snapshot"),
        actions=[KafkaConnectorAction("kc", "paused")],
        phase="Pausing",
        events=["StageCDC", "Pausing"],
    ),
    row(
        "sinks-in-connect-sources-in-strimzi-read-from-the-topic",
        spec=SINKS_HERE_SOURCES_IN_STRIMZI,
        observed=seen(
            sink("RUNNING"), strimzi=[kc("kc", "running", "RUNNING")], topic={"kc": SNAPSHOT}
        ),
        previous=before("Running", stage="Snapshot"),
        phase="PausePending",
        events=["PauseDeferred"],
    ),
    # --- Kafka Connect older than 3.5: no /offsets ---
    row(
        "old-connect-without-kafka-pauses-and-says-the-stage-is-unknown",
        spec=OLD_CONNECT_PAUSED,
        observed=seen(src("RUNNING", offsets=None), sink("RUNNING"), old_connect=True),
        previous=before("Running", stage=None),
        actions=[pause("src"), pause("sink")],
        phase="Pausing",
        events=["Pausing"],
    ),
    row(
        "old-connect-a-pause-left-pending-by-an-older-operator-goes-ahead",
        spec=OLD_CONNECT_PAUSED,
        observed=seen(src("RUNNING", offsets=None), sink("RUNNING"), old_connect=True),
        previous=before("PausePending", stage="Unknown"),
        actions=[pause("src"), pause("sink")],
        phase="Pausing",
        events=["Pausing"],
    ),
    row(
        "old-connect-paused-says-it-did-not-wait",
        spec=OLD_CONNECT_PAUSED,
        observed=seen(src("PAUSED", offsets=None), sink("PAUSED"), old_connect=True),
        previous=before("Pausing", stage="Unknown"),
        phase="Paused",
        conditions={"Ready": "True/Paused", "Paused": "True/StageUnknown"},
        events=["Paused"],
    ),
    row(
        "old-connect-with-kafka-reads-the-topic-and-waits",
        spec=OLD_CONNECT_KAFKA_PAUSED,
        observed=seen(
            src("RUNNING", offsets=None), sink("RUNNING"), old_connect=True, topic={"src": SNAPSHOT}
        ),
        previous=before("Running", stage="Snapshot"),
        phase="PausePending",
        conditions={"Paused": "False/WaitingForCDCStage"},
        events=["PauseDeferred"],
    ),
    row(
        "old-connect-with-kafka-pauses-once-the-topic-says-cdc",
        spec=OLD_CONNECT_KAFKA_PAUSED,
        observed=seen(
            src("RUNNING", offsets=None), sink("RUNNING"), old_connect=True, topic={"src": CDC}
        ),
        previous=before("PausePending", stage="Snapshot"),
        actions=[pause("src"), pause("sink")],
        phase="Pausing",
        events=["StageCDC", "Pausing"],
    ),
    row(
        "connect-serving-offsets-is-read-though-kafka-is-given",
        spec=OLD_CONNECT_KAFKA_PAUSED,
        observed=seen(src("RUNNING", offsets=SNAPSHOT), sink("RUNNING"), topic={"src": CDC}),
        previous=before("Running", stage="Snapshot"),
        phase="PausePending",
        events=["PauseDeferred"],
    ),
    # --- nothing can read the stage: the pause goes ahead, and says so ---
    row(
        "workloads-only-running-says-a-pause-would-not-wait",
        spec=WL_ONLY_RUNNING,
        observed=seen(workloads=[wl(3)]),
        previous=before("Running", stage="Unknown"),
        phase="Running",
        conditions={"Ready": "True/Running", "Paused": "False/StageUnknown"},
    ),
    row(
        "workloads-only-paused-says-it-did-not-wait",
        spec=WL_ONLY_PAUSED,
        observed=seen(workloads=[wl(0, saved=3)]),
        previous=before("Pausing", stage="Unknown", saved={"dbz": 3}),
        phase="Paused",
        conditions={"Ready": "True/Paused", "Paused": "True/StageUnknown"},
        events=["Paused"],
    ),
    row(
        "kafka-without-a-known-source-connector-does-not-hold",
        spec=job(paused=True, connect=(), workloads=["dbz"], kafka={}),
        observed=seen(workloads=[wl(3)]),
        previous=before("Running", stage=None),
        actions=[ScaleAction(DBZ, 0, save=3)],
        phase="Pausing",
        events=["Pausing"],
    ),
    # --- the offsets topic cannot be read ---
    row(
        "topic-unreadable-while-waiting-says-why-and-keeps-waiting",
        spec=WL_KAFKA_PAUSED,
        observed=seen(workloads=[wl(3)], stage_errors=[kafka_error()]),
        previous=before("PausePending", stage="Snapshot"),
        phase="PausePending",
        conditions={
            "Ready": "False/KafkaUnreachable",
            "Reconciling": "True/KafkaUnreachable",
            "Stalled": "False",
            "Paused": "False/WaitingForCDCStage",
        },
        pace=Pace.RETRY,
    ),
    row(
        "topic-unreadable-on-the-pass-that-pauses-is-already-pause-pending",
        spec=WL_KAFKA_PAUSED,
        observed=seen(workloads=[wl(3)], stage_errors=[kafka_error()]),
        previous=before("Running", stage="Snapshot"),
        phase="PausePending",
        conditions={"Ready": "False/KafkaUnreachable"},
        events=["PauseDeferred"],
    ),
    row(
        "topic-unreadable-with-no-stage-ever-read-holds-the-pause",
        spec=WL_KAFKA_PAUSED,
        observed=seen(workloads=[wl(3)], stage_errors=[kafka_error()]),
        previous=before("Running", stage=None),
        phase="PausePending",
        conditions={"Ready": "False/KafkaUnreachable", "Paused": "False/WaitingForCDCStage"},
        events=["PauseDeferred"],
    ),
    row(
        "topic-missing-while-waiting-is-stalled-at-once",
        spec=WL_KAFKA_PAUSED,
        observed=seen(
            workloads=[wl(3)],
            stage_errors=[kafka_error("OffsetsTopicNotFound", transient=False)],
        ),
        previous=before("PausePending", stage="Pending"),
        phase="PausePending",
        conditions={"Ready": "False/OffsetsTopicNotFound", "Stalled": "True/OffsetsTopicNotFound"},
        events=["OffsetsTopicNotFound"],
    ),
    row(
        "topic-unreadable-for-long-while-waiting-is-stalled",
        spec=WL_KAFKA_PAUSED,
        observed=seen(workloads=[wl(3)], stage_errors=[kafka_error()]),
        previous=before("PausePending", stage="Snapshot"),
        phase="PausePending",
        conditions={"Stalled": "True/KafkaUnreachable"},
        events=["KafkaUnreachable"],
        context={"errors_elapsed": 400.0},
    ),
    row(
        "topic-unreadable-while-running-is-no-error-but-the-paused-condition-says-so",
        spec=WL_KAFKA_RUNNING,
        observed=seen(workloads=[wl(3)], stage_errors=[kafka_error()]),
        previous=before("Running", stage="CDC"),
        phase="Running",
        conditions={
            "Ready": "True/Running",
            "Stalled": "False",
            "Paused": "False/KafkaUnreachable",
        },
    ),
    row(
        "topic-unreadable-once-paused-does-not-matter",
        spec=WL_KAFKA_PAUSED,
        observed=seen(workloads=[wl(0, saved=3)], stage_errors=[kafka_error()]),
        previous=before("Paused", stage="CDC", saved={"dbz": 3}),
        phase="Paused",
        conditions={"Ready": "True/Paused", "Paused": "True/Paused"},
    ),
    row(
        "stage-cdc-last-read-lets-a-pause-through-an-unreadable-topic",
        spec=WL_KAFKA_PAUSED,
        observed=seen(workloads=[wl(3)], stage_errors=[kafka_error()]),
        previous=before("Running", stage="CDC"),
        actions=[ScaleAction(DBZ, 0, save=3)],
        phase="Pausing",
        conditions={"Ready": "False/Pausing"},
        events=["Pausing"],
    ),
]


@pytest.mark.parametrize("r", STAGE_ROWS)
def test_decide(r: Row) -> None:
    check(reconcile.decide(r.spec, r.observed, ctx(r.previous, **r.context)), r)


@pytest.mark.parametrize("r", STAGE_ROWS)
def test_status_is_whole(r: Row) -> None:
    check_whole(reconcile.decide(r.spec, r.observed, ctx(r.previous, **r.context)), r)


def message(plan: object, type_: str) -> str:
    got = {c.type: c for c in plan.status.conditions}  # type: ignore[attr-defined]
    return str(got[type_].message)


def test_a_waiting_pause_names_the_connector_that_holds_it() -> None:
    pending = reconcile.decide(
        WL_KAFKA_PAUSED, seen(workloads=[wl(3)], topic={}), ctx(before("Running", stage=None))
    )
    assert pending.status.stage == "Pending"
    assert message(pending, "Paused") == (
        "the pause waits for the CDC stage (the job is in the Pending stage: no committed "
        "offset of connector pg yet (topic connect-offsets)); it is carried out as soon as "
        "the initial snapshot completes"
    )
    both = job(paused=True, connect=(), workloads=["dbz"], kafka={"sourceConnectors": ["a", "b"]})
    snapshot = reconcile.decide(
        both,
        seen(workloads=[wl(3)], topic={"a": SNAPSHOT, "b": CDC}),
        ctx(before("Running", stage=None)),
    )
    assert snapshot.status.stage == "Snapshot"
    assert "(the job is in the Snapshot stage: connector a still in the initial snapshot" in (
        message(snapshot, "Ready")
    )


def test_an_unreadable_topic_is_named_in_the_waiting_message() -> None:
    plan = reconcile.decide(
        WL_KAFKA_PAUSED,
        seen(workloads=[wl(3)], stage_errors=[kafka_error()]),
        ctx(before("PausePending", stage="Snapshot")),
    )
    assert plan.status.stage == "Snapshot"  # the last one read
    assert "the stage could not be read: KafkaUnreachable happened" in message(plan, "Paused")
    assert message(plan, "Ready") == "KafkaUnreachable happened"


@pytest.mark.parametrize(
    ("spec", "observed", "says"),
    [
        pytest.param(
            WL_ONLY_RUNNING,
            seen(workloads=[wl(3)]),
            "set spec.kafka with spec.kafka.sourceConnectors",
            id="workloads-only",
        ),
        pytest.param(
            job(),
            seen(src("RUNNING", offsets=None), sink("RUNNING"), old_connect=True),
            "Kafka Connect at http://connect:8083 serves no offsets (it is older than 3.5): "
            "set spec.kafka",
            id="connect-older-than-3.5",
        ),
        pytest.param(
            job(connect=(), strimzi=["kc"]),
            seen(strimzi=[kc("kc", "running", "RUNNING")]),
            "nothing here serves the offsets of kc: set spec.kafka",
            id="strimzi-without-kafka",
        ),
        pytest.param(
            job(connect=("sink",)),
            seen(sink("RUNNING")),
            "no source connector of the job is known: set spec.kafka with "
            "spec.kafka.sourceConnectors",
            id="connect-lists-only-sinks",
        ),
        pytest.param(
            job(connect=(), workloads=["dbz"], kafka={}),
            seen(workloads=[wl(3)]),
            "no source connector of the job is known: name them in spec.kafka.sourceConnectors",
            id="kafka-but-no-source-named",
        ),
    ],
)
def test_a_stage_nothing_can_read_says_what_to_set(
    spec: object, observed: object, says: str
) -> None:
    plan = reconcile.decide(spec, observed, ctx(before("Running", stage=None)))  # type: ignore[arg-type]
    assert plan.status.stage == "Unknown"
    paused = {c.type: c for c in plan.status.conditions}["Paused"]
    assert (paused.status, paused.reason) == ("False", "StageUnknown")
    assert paused.message.startswith(
        "the stage is not known, so a pause does not wait for the CDC stage: "
    )
    assert says in paused.message
