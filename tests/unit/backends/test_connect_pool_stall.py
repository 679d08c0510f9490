"""A Connect client whose pool never frees a connection is replaced, not kept failing.

Seen with 200 jobs on one worker: after a burst of timed-out requests the
shared client's pool stayed full for good while the worker answered curl in
65 ms, and every job of that worker reported ConnectTimeout until a restart.
"""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from syncjob_operator.api import jobspec
from syncjob_operator.backends.connect import ConnectClient, ConnectError
from syncjob_operator.backends.kube import Kube
from syncjob_operator.controller.shared import POOL_STALLS_TO_REPLACE, Shared
from syncjob_operator.settings import Settings


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads a request and never answers: holds the connection."""
    await reader.read(65536)
    await asyncio.sleep(30)


def test_pool_stalls_are_counted_and_a_stalled_client_is_replaced() -> None:
    async def scenario() -> tuple[int, list[str], bool, bool]:
        server = await asyncio.start_server(_silent, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        shared = Shared(kube=cast(Kube, object()), settings=Settings())
        spec = jobspec.ConnectSpec(url=url, connectors=["a"])
        client = await shared.connect_client("ns", spec)
        assert isinstance(client, ConnectClient)
        # One connection, held by a request the server never answers; the
        # others wait 0.1 s for it.
        client._slots = asyncio.Semaphore(1)
        client._pool_wait = 0.1
        holder = asyncio.create_task(client.offsets("a"))
        await asyncio.sleep(0.2)
        reasons = []
        for _ in range(POOL_STALLS_TO_REPLACE):
            with pytest.raises(ConnectError) as caught:
                await client.offsets("a")
            reasons.append(caught.value.error.reason)
        stalls = client.pool_stalls
        again = await shared.connect_client("ns", spec)
        holder.cancel()
        server.close()
        replaced = again is not client
        same_next = (await shared.connect_client("ns", spec)) is again
        await shared.connect_clients.close()
        return stalls, reasons, replaced, same_next

    stalls, reasons, replaced, same_next = asyncio.run(scenario())
    assert stalls == POOL_STALLS_TO_REPLACE
    assert reasons == ["ConnectTimeout"] * POOL_STALLS_TO_REPLACE
    assert replaced and same_next
