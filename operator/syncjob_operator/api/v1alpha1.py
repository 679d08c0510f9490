"""The SyncJob API, version v1alpha1: its names, and reading and writing it on the wire.

The models are in :mod:`~syncjob_operator.api.jobspec` and
:mod:`~syncjob_operator.api.jobstatus`; this module names the resource
(group, version, kind) and turns raw objects into models and back.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from syncjob_operator.api import jobspec, jobstatus

GROUP = "syncjob.dev"
VERSION = "v1alpha1"
KIND = "SyncJob"
PLURAL = "syncjobs"
SINGULAR = "syncjob"
SHORT_NAMES = ["sj"]


def parse_spec(raw: dict[str, Any]) -> jobspec.SyncJobSpec:
    """Validate a SyncJob's .spec as the API server stored it."""
    return jobspec.SyncJobSpec.model_validate(raw)


def parse_status(raw: dict[str, Any] | None) -> jobstatus.SyncJobStatus:
    """Read back a status written earlier; unknown keys (e.g. Kopf's) are ignored."""
    return jobstatus.SyncJobStatus.model_validate(raw or {})


def dump(model: BaseModel) -> dict[str, Any]:
    """The wire form: camelCase, without unset optional fields."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
