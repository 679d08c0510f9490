"""Tables for merge_patch: the smallest RFC 7386 merge patch from one document to another.

Status is written with these patches, so a wrong one either rewrites status
that did not change or leaves stale keys behind on the API server.
"""

from __future__ import annotations

from typing import Any

import pytest

from syncjob_operator.decide.patch import merge_patch


def apply(target: Any, patch: Any) -> Any:
    """RFC 7386 section 2, as the API server applies a merge patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = apply(out.get(key), value)
    return out


CASES = [
    pytest.param({}, {}, {}, id="both-empty"),
    pytest.param({"phase": "Paused"}, {"phase": "Paused"}, {}, id="no-change"),
    pytest.param(
        {"a": {"b": {"c": 1}}, "l": [1, 2]},
        {"a": {"b": {"c": 1}}, "l": [1, 2]},
        {},
        id="no-change-nested",
    ),
    pytest.param({}, {"phase": "Running"}, {"phase": "Running"}, id="key-added"),
    pytest.param(
        {"phase": "Running"}, {"phase": "Paused"}, {"phase": "Paused"}, id="value-changed"
    ),
    pytest.param(
        {"pausedAt": "t", "phase": "Paused"},
        {"phase": "Paused"},
        {"pausedAt": None},
        id="top-level-removal-is-null",
    ),
    pytest.param(
        {"retention": {"basis": "x", "safeBytes": 10}},
        {"retention": {"basis": "x"}},
        {"retention": {"safeBytes": None}},
        id="nested-removal-is-null",
    ),
    pytest.param(
        {"a": {"b": {"c": 1, "d": 2}}},
        {"a": {"b": {"c": 1}}},
        {"a": {"b": {"d": None}}},
        id="deeply-nested-removal",
    ),
    pytest.param({"retention": {"basis": "x"}}, {}, {"retention": None}, id="whole-object-removed"),
    pytest.param(
        {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Paused"}]},
        {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Paused"}]},
        {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Paused"}]},
        id="list-replaced-whole",
    ),
    pytest.param({"l": [1, 2, 3]}, {"l": [1, 2]}, {"l": [1, 2]}, id="list-shortened"),
    pytest.param({"x": {"a": 1}}, {"x": "flat"}, {"x": "flat"}, id="object-to-scalar"),
    pytest.param({"x": "flat"}, {"x": {"a": 1}}, {"x": {"a": 1}}, id="scalar-to-object"),
    pytest.param({"x": 1}, {"x": 1.5}, {"x": 1.5}, id="number-changed"),
    pytest.param({"x": {}}, {"x": {}}, {}, id="empty-object-unchanged"),
    pytest.param({}, {"x": {}}, {"x": {}}, id="empty-object-added"),
]


@pytest.mark.parametrize(("old", "new", "expected"), CASES)
def test_merge_patch(old: dict[str, Any], new: dict[str, Any], expected: dict[str, Any]) -> None:
    assert merge_patch(old, new) == expected


@pytest.mark.parametrize(("old", "new", "expected"), CASES)
def test_merge_patch_applied_gives_new(
    old: dict[str, Any], new: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert apply(old, merge_patch(old, new)) == new
