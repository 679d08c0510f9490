"""Pause through Strimzi: a KafkaConnector's ``spec.state`` (running, paused, stopped).

Strimzi reconciles Kafka Connect from its KafkaConnector resources and undoes
a pause made directly through the REST API, so where Strimzi manages the
connectors, the operator asks Strimzi.  The outcome is read from
``status.connectorStatus``, Strimzi's copy of Connect's status JSON.
"""

from __future__ import annotations

import dataclasses

from syncjob_operator.backends.connector_status import connector_state_from_status
from syncjob_operator.backends.kube import Kube, KubeError, Resource
from syncjob_operator.backends.watch import Read
from syncjob_operator.decide.observed import NOT_FOUND, UNKNOWN, BackendError, ConnectorState
from syncjob_operator.decide.plan import StrimziState

KAFKA_CONNECTORS = Resource(
    group_version="kafka.strimzi.io/v1beta2",
    plural="kafkaconnectors",
    namespaced=True,
    has_scale=False,
)


async def observe(
    kube: Kube, namespace: str, name: str, read: Read | None = None
) -> tuple[ConnectorState, BackendError | None]:
    """The KafkaConnector's requested and reported state; ``read`` it (default: a GET)."""
    try:
        if read is not None:
            obj = await read(KAFKA_CONNECTORS, namespace, name)
        else:
            obj = await kube.get(KAFKA_CONNECTORS.path(namespace, name))
    except KubeError as exc:
        reason = "StrimziNotInstalled" if exc.status == 404 else "KubernetesError"
        return ConnectorState(name=name, state=UNKNOWN), BackendError(
            "kafkaConnectors",
            reason,
            f"reading KafkaConnector {name}: {exc.message}",
            transient=exc.status != 404,
            subject=name,
        )
    if obj is None:
        return ConnectorState(name=name, state=NOT_FOUND), BackendError(
            "kafkaConnectors",
            "KafkaConnectorNotFound",
            f"KafkaConnector {name} does not exist in namespace {namespace}",
            transient=False,
            subject=name,
        )
    spec = obj.get("spec") or {}
    # Strimzi's older boolean spec.pause means what state: paused does.
    requested = spec.get("state") or ("paused" if spec.get("pause") else "running")
    connector_status = (obj.get("status") or {}).get("connectorStatus")
    if not connector_status:
        return ConnectorState(name=name, state=UNKNOWN, requested=requested), None
    seen = connector_state_from_status(name, connector_status)
    return dataclasses.replace(seen, requested=requested), None


async def set_state(kube: Kube, namespace: str, name: str, state: StrimziState) -> None:
    await kube.merge_patch(KAFKA_CONNECTORS.path(namespace, name), {"spec": {"state": state}})
