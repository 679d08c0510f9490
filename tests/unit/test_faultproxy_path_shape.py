"""The fault proxy's request counter: requests split anywhere, bodies skipped, paths shaped."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.env.faultproxy import RequestCounter, path_shape


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


STREAM = (
    b"GET /connectors?expand=status&expand=info HTTP/1.1\r\nHost: c\r\n\r\n"
    b'PUT /connectors/orders/pause HTTP/1.1\r\nContent-Length: 17\r\n\r\n{"GET /x": "y"}\r\n'
    b"GET /connectors/orders/tasks/0/status HTTP/1.1\r\nHost: c\r\n\r\n"
)


@pytest.mark.parametrize("chunk", [1, 7, 64, len(STREAM)])
def test_counts_each_request_once_however_the_bytes_arrive(chunk: int) -> None:
    targets: Counter[str] = Counter()
    shapes: Counter[str] = Counter()
    counter = RequestCounter(targets, shapes)
    for i in range(0, len(STREAM), chunk):
        counter.feed(STREAM[i : i + chunk])
    assert shapes == Counter(
        {
            "GET /connectors?expand": 1,
            "PUT /connectors/{name}/pause": 1,
            "GET /connectors/{name}/tasks/{task}/status": 1,
        }
    )
    assert targets["GET /connectors?expand=status&expand=info"] == 1


def test_bytes_that_are_not_http_are_not_counted() -> None:
    """A TLS stream (kube-apiserver behind the proxy) passes; nothing is counted."""
    targets: Counter[str] = Counter()
    shapes: Counter[str] = Counter()
    counter = RequestCounter(targets, shapes)
    for _ in range(100):
        counter.feed(b"\x16\x03\x01\x02\x00" + bytes(range(256)) * 4)
    assert not targets and not shapes
