"""The vocabulary the SyncJob API's fields are written in: the base model, patterns, durations.

Why this exists: the spec and status models share a base (camelCase on the
wire, unknown fields refused), a few patterns the API server enforces, and the
duration type.  A spec duration is Go syntax on the wire (what metav1.Duration
and CEL's ``duration()`` accept, so CEL rules can compare durations) and a
``timedelta`` in Python: validated once here, never parsed again by callers.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from syncjob_operator import units

# Go duration syntax in the units a spec uses.  Days are not Go syntax: "72h".
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
DURATION_MAX_LENGTH = 32
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# Kafka Connect connector names: anything but blank, a slash or surrounding space.
CONNECTOR_NAME_PATTERN = r"^[^/\s]([^/]*[^/\s])?$"
BOOTSTRAP_PATTERN = r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}(,[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5})*$"


def _go_duration(value: object) -> object:
    """A spec duration as the API server admits it (the CRD's pattern) into a timedelta.

    The pattern is checked here too, so that a spec validated in Python is
    refused exactly where the API server would refuse it.
    """
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise ValueError("a duration is never negative")
        return value
    if (
        not isinstance(value, str)
        or len(value) > DURATION_MAX_LENGTH
        or not re.fullmatch(DURATION_PATTERN, value)
    ):
        raise ValueError(
            f"must be a Go duration such as 72h, 30m or 1h30m (pattern {DURATION_PATTERN})"
        )
    return units.parse_duration(value)


Duration = Annotated[
    timedelta,
    BeforeValidator(_go_duration),
    PlainSerializer(units.format_go_duration, return_type=str),
    # What the CRD says: the string the API server validates, not pydantic's
    # ISO 8601 rendering of a timedelta.
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "maxLength": DURATION_MAX_LENGTH,
            "example": "72h",
        }
    ),
]
ConnectorName = Annotated[str, Field(min_length=1, max_length=249, pattern=CONNECTOR_NAME_PATTERN)]
ObjectName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]


def cel(rule: str, message: str, field_path: str | None = None) -> JsonValue:
    """One ``x-kubernetes-validations`` rule: CEL the API server evaluates."""
    validation: dict[str, JsonValue] = {"rule": rule, "message": message}
    if field_path:
        validation["fieldPath"] = field_path
    return validation


class Model(BaseModel):
    """camelCase on the wire, snake_case in Python, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )
