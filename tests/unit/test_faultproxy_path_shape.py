"""The fault proxy's path shapes: the Connect REST API's variable parts named."""

from __future__ import annotations

import pytest

from tests.env.faultproxy import path_shape


@pytest.mark.parametrize(
    ("target", "shape"),
    [
        ("/", "/"),
        ("/connectors", "/connectors"),
        ("/connectors/a-b/offsets", "/connectors/{name}/offsets"),
        (
            "/connectors/a/restart?includeTasks=true&onlyFailed=true",
            "/connectors/{name}/restart?includeTasks&onlyFailed",
        ),
    ],
)
def test_path_shape(target: str, shape: str) -> None:
    assert path_shape(target) == shape
