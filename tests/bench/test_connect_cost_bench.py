"""Benchmark: what each Kafka Connect REST request costs the worker, on 200 connectors.

Why this exists: in a storm the machine's CPU is shared by the worker, the
API server and the operator, so a request that is cheap to send can still be
what the storm waits on.  This measures, on one real worker with
``COST_CONNECTORS`` (200) FileStreamSource connectors, the wall time of a
batch of each request the operator makes and the CPU seconds the worker (and
the Kafka broker behind it) spent on it:

- the listing ``GET /connectors?expand=status`` (what the operator sends)
  against ``expand=status&expand=info`` (what it sent before: info adds every
  connector's config);
- ``GET /connectors/{n}/status`` and ``GET /connectors/{n}/offsets`` for
  each connector, one at a time and 16 at a time (the operator's pool);
- ``PUT /connectors/{n}/pause`` and ``/resume``, 16 at a time;
- the offsets reads and the PUTs as a storm's come, one every 7.5 ms, sent
  as they come and gathered into the operator's rounds (``ROUND_SPACING``).

And what the same requests cost the client: the CPU of this process per
request through the operator's own ``ConnectClient`` (aiohttp), next to a
plain ``httpx.AsyncClient`` with the same 16 connections (what the operator
used before), both on one event loop, every answer decoded.

Nothing is asserted but that the requests succeeded.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from syncjob_operator.backends.connect import POOL, ROUND_SPACING, ConnectClient
from syncjob_operator.decide.observed import BackendError
from tests.env import connect, kafka
from tests.helpers import polling, scale

CONNECTORS = int(os.environ.get("COST_CONNECTORS", "200"))
LISTINGS = 20
# How far apart a storm's requests reach the worker (200 spec patches
# answered over ~1.5 s), and the rounds they are gathered into.
SPREAD_S = 0.0075
ROUND_S = float(os.environ.get("COST_ROUND_S", str(ROUND_SPACING)))
pytestmark = pytest.mark.timeout(900)


def test_what_each_request_costs_the_worker(tmp_path: Path) -> None:
    broker = kafka.start_kafka(tmp_path / "kafka")
    worker = connect.start_connect(
        tmp_path / "connect", broker.bootstrap, required_plugins=(), heap="1g", group_id="cost"
    )
    rest = httpx.Client(base_url=worker.url, timeout=60)
    lines: list[str] = []
    try:
        names = [f"source-{i:04d}" for i in range(CONNECTORS)]
        files = tmp_path / "files"
        files.mkdir()
        scale.in_parallel(
            lambda n: rest.put(
                f"/connectors/{n}/config", json=scale.file_source(files, n, "cost")
            ).raise_for_status(),
            names,
        )
        polling.wait_for(
            "every connector RUNNING",
            lambda: scale.connectors_all_in(rest, names, "RUNNING"),
            timeout=300,
            interval=0.5,
        )
        time.sleep(5)  # the tasks' start-up over

        def measure(what: str, requests: int, batch: Callable[[], object]) -> None:
            before, started = scale.cpu_by_component(), time.perf_counter()
            batch()
            wall = time.perf_counter() - started
            after = scale.cpu_by_component()
            worker_cpu = after["Kafka Connect"] - before.get("Kafka Connect", 0.0)
            lines.append(
                f"{what}: {1000 * wall / requests:.1f} ms wall and "
                f"{1000 * worker_cpu / requests:.1f} ms of the worker's CPU a request; "
                + scale.cpu_split(before, after, wall)
            )

        def get(path: str) -> None:
            rest.get(path).raise_for_status()

        def put(path: str) -> None:
            rest.put(path).raise_for_status()

        measure("idle, 3 s", 1, lambda: time.sleep(3))
        for query in ("expand=status", "expand=status&expand=info"):
            measure(
                f"listing ?{query}",
                LISTINGS,
                lambda q=query: [get(f"/connectors?{q}") for _ in range(LISTINGS)],
            )
        measure(
            "GET status, one at a time",
            CONNECTORS,
            lambda: [get(f"/connectors/{n}/status") for n in names],
        )
        measure(
            "GET offsets, one at a time",
            CONNECTORS,
            lambda: [get(f"/connectors/{n}/offsets") for n in names],
        )
        measure(
            "GET offsets, 16 at a time",
            CONNECTORS,
            lambda: scale.in_parallel(lambda n: get(f"/connectors/{n}/offsets"), names),
        )
        for verb, state in (("pause", "PAUSED"), ("resume", "RUNNING")):
            measure(
                f"PUT {verb}, 16 at a time",
                CONNECTORS,
                lambda v=verb: scale.in_parallel(lambda n: put(f"/connectors/{n}/{v}"), names),
            )
            polling.wait_for(
                f"every connector {state}",
                lambda s=state: scale.connectors_all_in(rest, names, s),
                timeout=300,
                interval=0.5,
            )
        # A storm's requests come as the spec patches reach the operator:
        # spread out, one every few ms.  The same requests sent as they come,
        # and gathered into rounds ROUND_S apart.
        for how, rounds in (("as they come", 0.0), (f"in rounds {ROUND_S:.1f} s apart", ROUND_S)):
            paths = [f"/connectors/{n}/offsets" for n in names]
            measure(
                f"GET offsets, one every {1000 * SPREAD_S:.1f} ms, {how}",
                CONNECTORS,
                lambda p=paths, r=rounds: arriving(p, get, every=SPREAD_S, rounds=r),
            )
            for verb, state in (("pause", "PAUSED"), ("resume", "RUNNING")):
                paths = [f"/connectors/{n}/{verb}" for n in names]
                measure(
                    f"PUT {verb}, one every {1000 * SPREAD_S:.1f} ms, {how}",
                    CONNECTORS,
                    lambda p=paths, r=rounds: arriving(p, put, every=SPREAD_S, rounds=r),
                )
                polling.wait_for(
                    f"every connector {state}",
                    lambda s=state: scale.connectors_all_in(rest, names, s),
                    timeout=300,
                    interval=0.5,
                )
        lines.extend(client_costs(worker.url, names))
    finally:
        rest.close()
        worker.stop()
        broker.stop()
    print(
        f"\nWhat each request costs one Kafka Connect worker of {CONNECTORS} connectors "
        f"({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores shared):\n  " + "\n  ".join(lines)
    )


def arriving(paths: list[str], send: Callable[[str], None], *, every: float, rounds: float) -> None:
    """Each path sent at its arrival time (``every`` apart), or at the next round's start."""
    started = time.perf_counter()

    def one(item: tuple[int, str]) -> None:
        i, path = item
        at = i * every
        if rounds > 0:
            at = rounds * -(-at // rounds)  # the first round at or after its arrival
        delay = started + at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        send(path)

    with ThreadPoolExecutor(POOL * 4) as pool:
        list(pool.map(one, enumerate(paths)))


def client_costs(url: str, names: list[str]) -> list[str]:
    """CPU of this process per request: the operator's client, then plain httpx."""
    lines: list[str] = []
    for what, listing in (
        ("GET offsets of each connector, 16 at a time", False),
        (f"listing ?expand=status, {LISTINGS} one after another", True),
    ):
        requests = LISTINGS if listing else len(names)
        ours = 1000 * asyncio.run(ours_cpu(url, names, listing=listing)) / requests
        plain = 1000 * asyncio.run(httpx_cpu(url, names, listing=listing)) / requests
        lines.append(
            f"client CPU, {what}: the operator's client {ours:.2f} ms a request, "
            f"httpx {plain:.2f} ms ({plain / ours:.1f}x)"
        )
    return lines


async def cpu_of(work: Callable[[], Awaitable[object]]) -> float:
    """CPU seconds of this process for the second run of ``work`` (the first opens connections)."""
    await work()
    before = time.process_time()
    await work()
    return time.process_time() - before


async def ours_cpu(url: str, names: list[str], *, listing: bool) -> float:
    client = ConnectClient(url)

    async def work() -> None:
        if listing:
            for _ in range(LISTINGS):
                assert not isinstance(await client.listing(), BackendError)
        else:
            await asyncio.gather(*(client.offsets(n) for n in names))

    try:
        return await cpu_of(work)
    finally:
        await client.aclose()


async def httpx_cpu(url: str, names: list[str], *, listing: bool) -> float:
    limits = httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)
    slots = asyncio.Semaphore(POOL)
    async with httpx.AsyncClient(base_url=url, limits=limits) as plain:

        async def get(path: str) -> None:
            async with slots:
                r = await plain.get(path)
                r.raise_for_status()
                r.json()

        async def work() -> None:
            if listing:
                for _ in range(LISTINGS):
                    await get("/connectors?expand=status")
            else:
                await asyncio.gather(*(get(f"/connectors/{n}/offsets") for n in names))

        return await cpu_of(work)
