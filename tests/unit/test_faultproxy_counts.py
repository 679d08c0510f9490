"""The fault proxy counts the requests it passes, one by one on a kept-alive connection."""

from __future__ import annotations

import asyncio

import httpx

from tests.env.faultproxy import FaultProxy


async def _upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A tiny real HTTP/1.1 server: answers each request with its own request line."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if length:
                await reader.readexactly(length)
            body = head.split(b"\r\n")[0]
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def test_requests_are_counted_by_method_and_target() -> None:
    async def run() -> tuple[list[str], dict[str, int], dict[str, int]]:
        server = await asyncio.start_server(_upstream, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        proxy = FaultProxy("127.0.0.1", port)
        await proxy.start()
        try:
            async with httpx.AsyncClient(base_url=proxy.url) as client:
                answers = [
                    (await client.get("/connectors", params=[("expand", "status")])).text,
                    (await client.get("/connectors/a/status")).text,
                    (await client.put("/connectors/a/pause", content=b"x" * 5000)).text,
                    (await client.get("/connectors/a/status")).text,
                ]
            return answers, dict(proxy.requests), dict(proxy.connections)
        finally:
            await proxy.stop()
            server.close()

    answers, requests, connections = asyncio.run(run())
    assert answers[0] == "GET /connectors?expand=status HTTP/1.1"
    assert answers[2] == "PUT /connectors/a/pause HTTP/1.1"  # the body went through whole
    assert requests == {
        "GET /connectors?expand=status": 1,
        "GET /connectors/a/status": 2,
        "PUT /connectors/a/pause": 1,
    }
    assert connections == {"pass": 1}  # one kept-alive connection carried them all
