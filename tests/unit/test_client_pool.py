"""The kept-clients pool (controller/clients.py) and Shared's use of it, with the clock passed in.

What is kept, for whom, and when it is closed: reused under one key, retired
when its owner's credentials change or nobody used it for ``idle_after``,
closed ``grace`` after retirement, never while another owner still holds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from syncjob_operator.api import jobspec
from syncjob_operator.backends.connect import ConnectClient
from syncjob_operator.backends.kube import Kube
from syncjob_operator.controller import clients
from syncjob_operator.controller.shared import CLIENT_IDLE_AFTER, CONNECT_RETIRE_GRACE, Shared
from syncjob_operator.settings import Settings


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Client:
    name: str
    closed: bool = False


@dataclass
class Made:
    clients: list[Client] = field(default_factory=list)

    def maker(self, name: str) -> Any:
        def make() -> Client:
            client = Client(name)
            self.clients.append(client)
            return client

        return make


async def close(client: Client) -> None:
    client.closed = True


def pool(clock: Clock, *, idle_after: float = 300.0, grace: float = 0.0) -> clients.Pool[Client]:
    return clients.Pool(close, idle_after=idle_after, grace=grace, clock=clock)


async def test_one_client_per_key_is_reused_across_owners() -> None:
    clock, made = Clock(), Made()
    p = pool(clock)
    a = await p.get(("kafka:9092", "fp1"), made.maker("a"), owner=("ns1", "s"))
    b = await p.get(("kafka:9092", "fp1"), made.maker("b"), owner=("ns2", "s"))
    assert a is b and len(made.clients) == 1 and p.opened == 1 and len(p) == 1


async def test_a_changed_secret_retires_the_old_client_and_closes_it() -> None:
    clock, made = Clock(), Made()
    p = pool(clock)
    old = await p.get(("kafka:9092", "fp1"), made.maker("old"), owner="secret")
    new = await p.get(("kafka:9092", "fp2"), made.maker("new"), owner="secret")
    assert new is not old
    assert old.closed and not new.closed
    assert (p.opened, p.closed, len(p)) == (2, 1, 1)


async def test_a_client_another_owner_still_holds_stays_open() -> None:
    clock, made = Clock(), Made()
    p = pool(clock)
    shared = await p.get(("kafka:9092", "same"), made.maker("shared"), owner="secret-a")
    await p.get(("kafka:9092", "same"), made.maker("x"), owner="secret-b")
    await p.get(("kafka:9092", "rotated"), made.maker("rotated"), owner="secret-a")
    assert not shared.closed
    await p.get(("kafka:9092", "rotated"), made.maker("y"), owner="secret-b")
    assert shared.closed


async def test_a_retired_client_is_closed_only_after_the_grace() -> None:
    clock, made = Clock(), Made()
    p = pool(clock, grace=60.0)
    old = await p.get(("connect", "fp1"), made.maker("old"), owner="secret")
    await p.get(("connect", "fp2"), made.maker("new"), owner="secret")
    assert not old.closed  # a request started on it may still be running
    clock.now += 59.0
    assert await p.sweep() == 0 and not old.closed
    clock.now += 1.0
    assert await p.sweep() == 1 and old.closed


@pytest.mark.parametrize(("idle", "closed"), [(299.0, False), (300.0, True), (900.0, True)])
async def test_an_idle_client_is_closed(idle: float, closed: bool) -> None:
    clock, made = Clock(), Made()
    p = pool(clock, idle_after=300.0)
    client = await p.get(("kafka:9092", "fp"), made.maker("c"), owner="secret")
    clock.now += idle
    await p.sweep()
    assert client.closed is closed
    # Asked again after its close: a new one, not the closed one.
    again = await p.get(("kafka:9092", "fp"), made.maker("again"), owner="secret")
    assert (again is client) is not closed


async def test_use_keeps_a_client_from_going_idle() -> None:
    clock, made = Clock(), Made()
    p = pool(clock, idle_after=300.0)
    client = await p.get(("k", "fp"), made.maker("c"))
    for _ in range(10):
        clock.now += 200.0
        assert await p.get(("k", "fp"), made.maker("x")) is client
    assert not client.closed and p.opened == 1


async def test_discard_retires_at_once_and_the_next_get_makes_a_new_one() -> None:
    clock, made = Clock(), Made()
    p = pool(clock)
    bad = await p.get(("k", "fp"), made.maker("bad"), owner="secret")
    p.discard(("k", "fp"), "a probe through it failed")
    p.discard(("k", "unknown"), "nothing there")  # no such client: nothing happens
    fresh = await p.get(("k", "fp"), made.maker("fresh"), owner="secret")
    assert bad.closed and fresh is not bad and not fresh.closed


async def test_a_make_that_raises_keeps_nothing() -> None:
    p = pool(Clock())

    def broken() -> Client:
        raise ValueError("librdkafka refused the config")

    with pytest.raises(ValueError, match="refused"):
        await p.get(("k", "fp"), broken, owner="secret")
    assert len(p) == 0 and p.opened == 0


async def test_close_closes_kept_and_retired_clients() -> None:
    clock, made = Clock(), Made()
    p = pool(clock, grace=60.0)
    await p.get(("k", "fp1"), made.maker("old"), owner="s")
    await p.get(("k", "fp2"), made.maker("new"), owner="s")
    await p.close()
    assert all(c.closed for c in made.clients) and p.closed == 2 and len(p) == 0


def test_the_fingerprint_tells_secret_versions_apart_and_ignores_key_order() -> None:
    a = clients.fingerprint({"sasl.username": "k", "sasl.password": "one"})
    b = clients.fingerprint({"sasl.password": "one", "sasl.username": "k"})
    c = clients.fingerprint({"sasl.username": "k", "sasl.password": "two"})
    assert a == b != c
    assert "one" not in a


# --- Shared: Connect clients by Secret ----------------------------------------------


class Secrets:
    """Kube as Shared uses it for Connect credentials: read_secret only."""

    def __init__(self, data: dict[str, str]) -> None:
        self.data = data
        self.reads = 0

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        self.reads += 1
        return dict(self.data)

    async def close(self) -> None:
        pass


def connect_spec() -> jobspec.ConnectSpec:
    return jobspec.ConnectSpec.model_validate(
        {"url": "https://connect:8083", "connectors": ["c"], "authSecretRef": {"name": "auth"}}
    )


async def test_shared_replaces_the_connect_client_when_its_secret_rotates() -> None:
    clock = Clock()
    secrets = Secrets({"username": "op", "password": "first"})
    shared = Shared(kube=cast(Kube, secrets), settings=Settings(), clock=clock, secret_ttl=0.0)
    spec = connect_spec()
    first = await shared.connect_client("ns", spec)
    assert isinstance(first, ConnectClient)
    assert await shared.connect_client("ns", spec) is first

    secrets.data["password"] = "second"
    second = await shared.connect_client("ns", spec)
    assert isinstance(second, ConnectClient) and second is not first
    assert not first.closed  # another job's request may still be on it
    clock.now += CONNECT_RETIRE_GRACE
    await shared.sweep()
    assert first.closed and not second.closed

    clock.now += CLIENT_IDLE_AFTER
    await shared.sweep()  # no job asked for it since: retired, then closed after the grace
    clock.now += CONNECT_RETIRE_GRACE
    await shared.sweep()
    assert second.closed
    await shared.close()


async def test_shared_reads_a_secret_again_only_after_its_ttl() -> None:
    clock = Clock()
    secrets = Secrets({"username": "op", "password": "pw"})
    shared = Shared(kube=cast(Kube, secrets), settings=Settings(), clock=clock)
    for _ in range(3):
        await shared.connect_client("ns", connect_spec())
    assert secrets.reads == 1
    clock.now += 60.0
    await shared.connect_client("ns", connect_spec())
    assert secrets.reads == 2
    await shared.close()
