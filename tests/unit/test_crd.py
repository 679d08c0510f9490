"""The generated CRD: no drift from the models, structural, readable, and carrying its rules.

The API server refuses a non-structural schema (no ``$ref``, no ``anyOf`` for
optional fields, a ``type`` on every node), and ``kubectl explain`` prints
only what each field's ``description`` says.  Whether the CEL rules actually
reject what they should is checked against a real API server in
tests/integration.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncjob_operator.api import crd, fields, jobspec

CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / "syncjob.dev_syncjobs.yaml"


def version() -> dict[str, Any]:
    versions: list[dict[str, Any]] = crd.crd()["spec"]["versions"]
    assert len(versions) == 1
    return versions[0]


def root_schema() -> dict[str, Any]:
    schema: dict[str, Any] = version()["schema"]["openAPIV3Schema"]
    return schema


def nodes(schema: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every schema node below ``schema``, with a dotted path (``[]`` for list items)."""
    if not isinstance(schema, dict):
        return
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from nodes(sub, f"{path}.{name}")
    if "items" in schema:
        yield from nodes(schema["items"], f"{path}[]")


def keys_anywhere(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, sub in value.items():
            yield key
            yield from keys_anywhere(sub)
    elif isinstance(value, list):
        for item in value:
            yield from keys_anywhere(item)


def test_committed_crd_matches_the_models() -> None:
    assert CRD_FILE.read_text() == crd.render(), (
        f"{CRD_FILE.name} differs from what the models in api/ generate: "
        "run `make crds` and commit the result"
    )


def test_committed_crd_is_the_same_object() -> None:
    # Guards the YAML rendering itself (quoting, wrapping of long CEL rules).
    assert yaml.safe_load(CRD_FILE.read_text()) == crd.crd()


def test_names() -> None:
    spec = crd.crd()["spec"]
    assert crd.crd()["metadata"]["name"] == "syncjobs.syncjob.dev"
    assert spec["group"] == "syncjob.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "SyncJob"
    assert spec["names"]["plural"] == "syncjobs"
    assert spec["names"]["shortNames"] == ["sj"]
    assert version()["name"] == "v1alpha1"
    assert version()["served"] is True and version()["storage"] is True
    assert version()["subresources"] == {"status": {}}


@pytest.mark.parametrize(
    "forbidden",
    ["$ref", "$defs", "anyOf", "oneOf", "allOf", "title", "additionalProperties", "const"],
)
def test_schema_is_structural_no(forbidden: str) -> None:
    assert forbidden not in set(keys_anywhere(root_schema()))


def test_every_node_has_a_type() -> None:
    untyped = [
        path or "<root>"
        for path, node in nodes(root_schema())
        if "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields")
    ]
    assert untyped == []


def test_no_default_is_null() -> None:
    nulls = [
        path for path, node in nodes(root_schema()) if "default" in node and node["default"] is None
    ]
    assert nulls == []


def test_every_spec_field_has_a_description() -> None:
    spec = root_schema()["properties"]["spec"]
    undescribed = [
        path
        for path, node in nodes(spec, "spec")
        if not path.endswith("[]") and not str(node.get("description", "")).strip()
    ]
    assert undescribed == []


def test_every_spec_model_field_is_in_the_schema() -> None:
    props = root_schema()["properties"]["spec"]["properties"]
    assert set(props) == {f.alias for f in jobspec.SyncJobSpec.model_fields.values()}


@pytest.mark.parametrize(
    ("name", "json_path", "type_"),
    [
        ("Stage", ".status.stage", "string"),
        ("Phase", ".status.phase", "string"),
        ("Paused", ".spec.paused", "boolean"),
        ("Deadline", ".status.retentionDeadline", "string"),
        ("Ready", '.status.conditions[?(@.type=="Ready")].status', "string"),
        ("Lag", ".status.cdc.lastEventTime", "date"),
        ("Age", ".metadata.creationTimestamp", "date"),
    ],
)
def test_printer_column(name: str, json_path: str, type_: str) -> None:
    columns = {c["name"]: c for c in version()["additionalPrinterColumns"]}
    assert columns[name]["jsonPath"] == json_path
    assert columns[name]["type"] == type_


def test_printer_columns_in_order() -> None:
    names = [c["name"] for c in version()["additionalPrinterColumns"]]
    assert names == ["Stage", "Phase", "Paused", "Deadline", "Ready", "Lag", "Age"]


def cel_rules() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path, node in nodes(root_schema()):
        for rule in node.get("x-kubernetes-validations", []):
            assert rule.get("message"), f"CEL rule at {path} has no message"
            found.setdefault(path, []).append(rule["rule"])
    return found


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        pytest.param(".spec", "has(self.connect)", id="one-way-to-pause-connect"),
        pytest.param(".spec", "size(self.workloads) > 0", id="one-way-to-pause-workloads"),
        pytest.param(".spec", "size(self.kafkaConnectors) > 0", id="one-way-to-pause-strimzi"),
        pytest.param(".spec.connect.url", "isURL(self)", id="url-well-formed"),
        pytest.param(
            ".spec.source",
            "self.type != 'oracle' || has(self.retention)",
            id="oracle-needs-retention",
        ),
        pytest.param(".spec.source", "has(self.connectionSecretRef)", id="probe-needs-secret"),
        pytest.param(".spec.source", "has(self.slotName)", id="postgresql-probe-needs-slot"),
        pytest.param(
            ".spec.retentionPolicy",
            "duration(self.autoResumeBefore) < duration(self.warnBefore)",
            id="auto-resume-before-warn",
        ),
    ],
)
def test_cel_rule_present(path: str, fragment: str) -> None:
    rules = cel_rules().get(path, [])
    assert any(fragment in rule for rule in rules), rules


@pytest.mark.parametrize(
    ("path", "key", "value"),
    [
        (".spec.connect.connectors[]", "minLength", 1),
        (".spec.connect.connectors[]", "pattern", fields.CONNECTOR_NAME_PATTERN),
        (".spec.connect.connectors", "minItems", 1),
        (".spec.connect.connectors", "x-kubernetes-list-type", "set"),
        (".spec.retentionPolicy.warnBefore", "pattern", fields.DURATION_PATTERN),
        (".spec.retentionPolicy.warnBefore", "default", "6h"),
        (".spec.source.retention", "pattern", fields.DURATION_PATTERN),
        (".spec.pauseMode", "enum", ["Pause", "Stop"]),
        (".spec.source.type", "enum", ["postgresql", "mysql", "mariadb", "sqlserver", "oracle"]),
        (".spec.workloads", "x-kubernetes-list-type", "map"),
        (".spec.workloads", "x-kubernetes-list-map-keys", ["kind", "name"]),
        (".spec.workloads[]", "required", ["apiVersion", "kind", "name"]),
        (".status.conditions", "x-kubernetes-list-type", "map"),
        (".status.conditions", "x-kubernetes-list-map-keys", ["type"]),
        (".status.conditions[]", "required", ["type"]),
    ],
)
def test_schema_keyword(path: str, key: str, value: Any) -> None:
    by_path = dict(nodes(root_schema()))
    assert by_path[path][key] == value
