"""Generates the SyncJob CustomResourceDefinition from the pydantic models.

Pydantic emits JSON Schema; the API server wants a *structural* OpenAPI v3
schema: no ``$ref``, no ``anyOf`` for optional fields, a ``type`` on every
node, no ``title``.  This module turns one into the other, and adds what only a
CRD has: the status subresource, printer columns and short names.
``python -m syncjob_operator.api.crd`` prints the YAML that ``make crds``
writes to ``crds/``; a unit test fails when the two differ.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml
from pydantic import BaseModel

from syncjob_operator.api import jobspec, jobstatus, v1alpha1

JsonSchema = dict[str, Any]

_DROPPED_KEYS = {"title", "additionalProperties"}
CEL = "x-kubernetes-validations"


def _resolve(node: Any, defs: dict[str, JsonSchema]) -> Any:
    """Inline every $ref, unwrap Optional (anyOf X | null), drop JSON-Schema-only keys."""
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        # CEL rules may sit on the type (its model) and on the field using it: keep both.
        rules = [*target.get(CEL, []), *node.get(CEL, [])]
        if rules:
            merged[CEL] = rules
        return _resolve(merged, defs)
    if "anyOf" in node:
        variants = [v for v in node["anyOf"] if v != {"type": "null"}]
        if len(variants) == 1:
            outer = {k: v for k, v in node.items() if k != "anyOf"}
            return _resolve({**variants[0], **outer}, defs)
    out: JsonSchema = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or (key == "default" and value is None):
            continue
        if key == "const":
            out["enum"] = [value]
            continue
        if key == "properties":
            out[key] = {name: _resolve(sub, defs) for name, sub in value.items()}
        else:
            out[key] = _resolve(value, defs)
    return out


def openapi_schema(model: type[BaseModel]) -> JsonSchema:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    resolved: JsonSchema = _resolve(raw, defs)
    return resolved


def _status_schema() -> JsonSchema:
    raw = jobstatus.SyncJobStatus.model_json_schema(by_alias=True, mode="serialization")
    defs = raw.pop("$defs", {})
    schema: JsonSchema = _resolve(raw, defs)
    # Status is written by the operator only; required lists on nested status
    # objects would make an older operator's partial write fail, so drop them.
    _drop_required(schema)
    return schema


def _drop_required(schema: JsonSchema) -> None:
    if schema.get("type") == "object":
        if "properties" in schema and schema.get("required"):
            # Keep list-map keys required: the API server demands it.
            keep = [k for k in schema["required"] if k in ("type", "name")]
            if keep:
                schema["required"] = keep
            else:
                schema.pop("required")
        for sub in schema.get("properties", {}).values():
            _drop_required(sub)
    if "items" in schema:
        _drop_required(schema["items"])


PRINTER_COLUMNS: list[JsonSchema] = [
    {"name": "Stage", "type": "string", "jsonPath": ".status.stage"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"},
    {
        "name": "Deadline",
        "type": "string",
        "format": "date-time",
        "jsonPath": ".status.retentionDeadline",
        "description": "While paused: when the source purges change log the job still needs.",
    },
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
    },
    {
        # type date: kubectl prints the age of the last change committed, i.e. the lag.
        "name": "Lag",
        "type": "date",
        "jsonPath": ".status.cdc.lastEventTime",
        "description": "Age of the source time of the last change the connectors committed.",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def crd() -> JsonSchema:
    spec_schema = openapi_schema(jobspec.SyncJobSpec)
    spec_schema["description"] = (jobspec.SyncJobSpec.__doc__ or "").strip()
    status_schema = _status_schema()
    status_schema["description"] = (jobstatus.SyncJobStatus.__doc__ or "").strip()
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{v1alpha1.PLURAL}.{v1alpha1.GROUP}"},
        "spec": {
            "group": v1alpha1.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": v1alpha1.KIND,
                "plural": v1alpha1.PLURAL,
                "singular": v1alpha1.SINGULAR,
                "shortNames": v1alpha1.SHORT_NAMES,
                "listKind": f"{v1alpha1.KIND}List",
                "categories": ["all"],
            },
            "versions": [
                {
                    "name": v1alpha1.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": (
                                "A SyncJob is one continuous relational-to-MongoDB sync job "
                                "(Debezium source connectors, Kafka, a MongoDB sink) whose "
                                "pause and resume the operator carries out."
                            ),
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


def render() -> str:
    header = (
        "# Generated from operator/syncjob_operator/api/v1alpha1.py by `make crds`. Do not edit.\n"
    )
    return header + yaml.safe_dump(crd(), sort_keys=False, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
