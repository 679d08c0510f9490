"""The decision, one pass per row: pausing through Strimzi KafkaConnectors."""

from __future__ import annotations

import pytest

from syncjob_operator.decide import reconcile
from syncjob_operator.decide.plan import (
    KafkaConnectorAction,
    ScaleAction,
)
from tests.helpers.decide_builders import (
    DBZ,
    KC_AND_WL_RUNNING,
    KC_PAUSED,
    KC_RUNNING,
    KC_STOP,
    Row,
    before,
    check,
    check_whole,
    ctx,
    error,
    kc,
    row,
    seen,
    wl,
)

STRIMZI_ROWS = [
    row(
        "strimzi-pause-sets-state-paused",
        spec=KC_PAUSED,
        observed=seen(strimzi=[kc("kc", "running", "RUNNING")]),
        previous=before("Running", stage=None),
        actions=[KafkaConnectorAction("kc", "paused")],
        phase="Pausing",
        events=["Pausing"],
    ),
    row(
        "strimzi-state-set-not-applied-yet",
        spec=KC_PAUSED,
        observed=seen(strimzi=[kc("kc", "paused", "RUNNING")]),
        previous=before("Pausing", stage=None),
        phase="Pausing",
        conditions={"Ready": "False"},
    ),
    row(
        "strimzi-paused",
        spec=KC_PAUSED,
        observed=seen(strimzi=[kc("kc", "paused", "PAUSED")]),
        previous=before("Pausing", stage=None),
        phase="Paused",
        conditions={"Ready": "True/Paused"},
        events=["Paused"],
    ),
    row(
        "strimzi-stop-sets-state-stopped",
        spec=KC_STOP,
        observed=seen(strimzi=[kc("kc", "running", "RUNNING")]),
        previous=before("Running", stage=None),
        actions=[KafkaConnectorAction("kc", "stopped")],
        phase="Pausing",
        events=["Pausing"],
    ),
    row(
        "strimzi-stopped",
        spec=KC_STOP,
        observed=seen(strimzi=[kc("kc", "stopped", "STOPPED")]),
        previous=before("Pausing", stage=None),
        phase="Paused",
        events=["Paused"],
    ),
    row(
        "strimzi-resume-sets-state-running",
        spec=KC_RUNNING,
        observed=seen(strimzi=[kc("kc", "paused", "PAUSED")]),
        previous=before("Paused", stage=None),
        actions=[KafkaConnectorAction("kc", "running")],
        phase="Resuming",
        events=["Resuming"],
    ),
    row(
        "strimzi-running",
        spec=KC_RUNNING,
        observed=seen(strimzi=[kc("kc", "running", "RUNNING")]),
        previous=before("Resuming", stage=None),
        phase="Running",
        events=["Running"],
    ),
    row(
        "strimzi-state-changed-by-someone-while-paused",
        spec=KC_PAUSED,
        observed=seen(strimzi=[kc("kc", "running", "RUNNING")]),
        previous=before("Paused", stage=None),
        actions=[KafkaConnectorAction("kc", "paused")],
        phase="Pausing",
        events=["KafkaConnectorStateOverridden", "Pausing"],
    ),
    row(
        "strimzi-state-changed-by-someone-while-running",
        spec=KC_RUNNING,
        observed=seen(strimzi=[kc("kc", "paused", "PAUSED")]),
        previous=before("Running", stage=None),
        actions=[KafkaConnectorAction("kc", "running")],
        phase="Resuming",
        events=["KafkaConnectorStateOverridden", "Resuming"],
    ),
    row(
        "strimzi-failed-is-not-paused",
        spec=KC_PAUSED,
        observed=seen(strimzi=[kc("kc", "running", "FAILED", ["FAILED"])]),
        previous=before("Running", stage=None),
        phase="Failed",
        conditions={"Stalled": "True/ConnectorFailed"},
        events=["Failed", "ConnectorFailed"],
    ),
    row(
        "strimzi-failed-can-be-stopped",
        spec=KC_STOP,
        observed=seen(strimzi=[kc("kc", "running", "FAILED", ["FAILED"])]),
        previous=before("Running", stage=None),
        actions=[KafkaConnectorAction("kc", "stopped")],
        phase="Pausing",
        events=["Pausing"],
    ),
    row(
        "strimzi-resume-waits-for-workloads",
        spec=KC_AND_WL_RUNNING,
        observed=seen(strimzi=[kc("kc", "paused", "PAUSED")], workloads=[wl(0, saved=1)]),
        previous=before("Paused", stage=None, saved={"dbz": 1}),
        actions=[ScaleAction(DBZ, 1, save=1)],
        phase="Resuming",
        events=["Resuming"],
    ),
    row(
        "strimzi-not-found-is-stalled",
        spec=KC_PAUSED,
        observed=seen(
            strimzi=[kc("kc", None, "NotFound")],
            errors=[error("KafkaConnectorNotFound", transient=False, backend="kafkaConnectors")],
        ),
        previous=before("Running", stage=None),
        phase="Running",
        conditions={"Stalled": "True/KafkaConnectorNotFound"},
        events=["KafkaConnectorNotFound"],
    ),
]


@pytest.mark.parametrize("r", STRIMZI_ROWS)
def test_decide(r: Row) -> None:
    check(reconcile.decide(r.spec, r.observed, ctx(r.previous, **r.context)), r)


@pytest.mark.parametrize("r", STRIMZI_ROWS)
def test_status_is_whole(r: Row) -> None:
    check_whole(reconcile.decide(r.spec, r.observed, ctx(r.previous, **r.context)), r)
