"""A job's connectors out of Connect's listing, reported as their own status GETs report them.

The listing is the shape the real worker answers ``GET
/connectors?expand=status`` with (an info expansion too in LISTING: the
parser takes either) (tests/e2e/test_connect_cost.py
reads it from the real worker); answers are replayed by a local server
(tests/helpers/stub_http.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from syncjob_operator.backends.connect import ConnectClient
from syncjob_operator.backends.connector_status import connector_states_from_listing
from syncjob_operator.decide.observed import PAUSED
from tests.helpers import stub_http

T = TypeVar("T")

STATUS = {
    "name": "src",
    "connector": {"state": "PAUSED", "worker_id": "127.0.0.1:8083"},
    "tasks": [
        {"id": 1, "state": "PAUSED", "worker_id": "127.0.0.1:8083"},
        {"id": 0, "state": "RUNNING", "worker_id": "127.0.0.1:8084"},
    ],
    "type": "source",
}
LISTING = {
    "src": {
        "status": STATUS,
        "info": {
            "name": "src",
            "config": {"connector.class": "x", "database.password": "secret"},
            "tasks": [{"connector": "src", "task": 0}],
            "type": "source",
        },
    },
    "sink": {
        "status": {
            "name": "sink",
            "connector": {"state": "RUNNING", "worker_id": "w"},
            "tasks": [],
            "type": "sink",
        },
        "info": {"name": "sink", "config": {}, "tasks": [], "type": "sink"},
    },
    # Created a moment ago: no status yet, but its type is known.
    "fresh": {"info": {"name": "fresh", "config": {}, "tasks": [], "type": "source"}},
}


def answering(
    code: int,
    body: Any,
    run: Callable[[ConnectClient], Awaitable[T]],
    offsets: dict[str, Any] | None = None,
) -> tuple[T, list[str]]:
    """What ``run`` returns with a client of a server answering so; and what it was asked."""
    asked: list[str] = []

    def answer(method: str, path: str, query: str) -> tuple[int, bytes]:
        asked.append(f"{method} {path}?{query}")
        if path.endswith("/offsets"):
            return 200, json.dumps(offsets or {"offsets": []}).encode()
        if path.endswith("/status"):
            return 404, b'{"message": "Connector gone not found"}'
        return code, json.dumps(body).encode()

    async def scenario() -> T:
        async with stub_http.connect_client(answer) as client:
            return await run(client)

    return asyncio.run(scenario()), asked


def test_a_listing_reads_every_connector_with_its_type_and_drops_the_config() -> None:
    states = connector_states_from_listing(LISTING)
    assert sorted(states) == ["fresh", "sink", "src"]
    src = states["src"]
    assert (src.state, src.type, src.worker_id) == ("PAUSED", "source", "127.0.0.1:8083")
    assert [(t.id, t.state) for t in src.tasks] == [(0, "RUNNING"), (1, "PAUSED")]
    assert (states["sink"].type, states["fresh"].type) == ("sink", "source")
    assert states["fresh"].state == "UNASSIGNED"
    assert "secret" not in repr(states)


def test_anything_but_an_object_lists_nothing() -> None:
    assert connector_states_from_listing([1, 2]) == {}
    assert connector_states_from_listing({"a": 3}) == {}


def test_one_request_and_the_same_report_as_each_connectors_own_status() -> None:
    async def run(client: ConnectClient) -> Any:
        listed = await client.listing()
        from_listing = client.from_listing(["src", "gone"], listed)
        own = await client.observe(["gone"], with_offsets=False, types={})
        return from_listing, own

    ((states, errors), (own_states, own_errors)), asked = answering(200, LISTING, run)
    assert asked[0] == "GET /connectors?expand=status"
    assert [s.state for s in states] == ["PAUSED", "NotFound"]
    # A connector missing from the listing: exactly what a 404 of its status gives.
    assert states[1] == own_states[0]
    assert errors == own_errors
    assert errors[0].reason == "ConnectorNotFound" and errors[0].subject == "gone"


def test_a_failed_listing_is_every_connector_unknown_with_its_error() -> None:
    async def run(client: ConnectClient) -> Any:
        return client.from_listing(["src", "sink"], await client.listing())

    (states, errors), _ = answering(500, {"message": "boom"}, run)
    assert [s.state for s in states] == ["Unknown", "Unknown"]
    assert [(e.reason, e.subject, e.transient) for e in errors] == [
        ("ConnectServerError", "src", True),
        ("ConnectServerError", "sink", True),
    ]


def test_offsets_are_added_for_the_sources_only() -> None:
    offsets = {"offsets": [{"partition": {"server": "p"}, "offset": {"lsn": 9}}]}

    async def run(client: ConnectClient) -> Any:
        states, _ = client.from_listing(["src", "sink", "gone"], await client.listing())
        return await client.add_offsets(states)

    (states, errors), asked = answering(200, LISTING, run, offsets)
    assert errors == []
    assert [s.offsets for s in states] == [({"lsn": 9},), None, None]
    assert [a for a in asked if "offsets" in a] == ["GET /connectors/src/offsets?"]


def test_a_pause_is_asked_as_connect_accepts_it() -> None:
    """A PUT with no body and no Content-Type: Connect answers 415 to any other type."""

    async def run(client: ConnectClient) -> None:
        await client.request_state("src", PAUSED)

    _, asked = answering(202, {}, run)
    assert asked == ["PUT /connectors/src/pause?"]
