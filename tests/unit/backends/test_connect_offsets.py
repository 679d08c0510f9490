"""Whether a Kafka Connect serves ``GET /connectors/{n}/offsets``, from its recorded answers.

The answers are the real worker's, recorded (tests/e2e/test_stage_from_offsets_topic.py
checks that the worker still gives them): a Connect older than 3.5 has no
/offsets resource and answers as any Connect does for a path it has none for
(Jersey's 404, or 405); a 404 about a connector names it.  They are replayed
to the client by a local server (tests/helpers/stub_http.py), and the client
must remember a Connect without the endpoint and not ask it again.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from syncjob_operator.backends.connect import ConnectClient
from tests.helpers import stub_http

STATUS = {
    "name": "src",
    "connector": {"state": "RUNNING", "worker_id": "127.0.0.1:8083"},
    "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "127.0.0.1:8083"}],
    "type": "source",
}
OFFSETS = {"offsets": [{"partition": {"server": "e2e"}, "offset": {"lsn": 5, "txId": 1}}]}
NO_RESOURCE = (404, {"error_code": 404, "message": "HTTP 404 Not Found"})
NO_METHOD = (405, {"error_code": 405, "message": "HTTP 405 Method Not Allowed"})
NO_CONNECTOR = (404, {"error_code": 404, "message": "Connector src not found"})


@asynccontextmanager
async def client_answering(
    offsets: tuple[int, Any],
) -> AsyncIterator[tuple[ConnectClient, list[str]]]:
    asked: list[str] = []

    def answer(method: str, path: str, query: str) -> tuple[int, bytes]:
        asked.append(path)
        code, body = (200, STATUS) if path.endswith("/status") else offsets
        return code, json.dumps(body).encode()

    async with stub_http.connect_client(answer) as client:
        yield client, asked


async def test_a_connect_serving_offsets_is_read() -> None:
    async with client_answering((200, OFFSETS)) as (client, asked):
        seen = await client.connector("src", with_offsets=True, known_type=None)
    assert seen.offsets == ({"lsn": 5, "txId": 1},)
    assert client.serves_offsets
    assert asked == ["/connectors/src/status", "/connectors/src/offsets"]


@pytest.mark.parametrize("answer", [NO_RESOURCE, NO_METHOD], ids=["404-no-resource", "405"])
async def test_a_connect_without_the_endpoint_is_remembered(answer: tuple[int, Any]) -> None:
    async with client_answering(answer) as (client, asked):
        first = await client.connector("src", with_offsets=True, known_type=None)
        assert first.offsets is None and first.state == "RUNNING"
        assert not client.serves_offsets
        asked.clear()
        again = await client.connector("src", with_offsets=True, known_type="source")
    assert again.offsets is None
    assert asked == ["/connectors/src/status"]  # not asked again


async def test_a_connector_gone_since_its_status_is_not_an_old_connect() -> None:
    async with client_answering(NO_CONNECTOR) as (client, _):
        seen = await client.connector("src", with_offsets=True, known_type=None)
    assert seen.offsets is None
    assert client.serves_offsets
