"""An API server that cannot be reached is a KubeError (status 0), not a raw transport error.

Real sockets, no server stand-in: a port nobody listens on, and the fault
proxy refusing or resetting (tests/env/faultproxy.py).  Why it matters: the
loop retries a KubeError with a one-line warning and the workloads adapter
turns it into a condition; a raw aiohttp error was a traceback per job per
retry for as long as a kube-apiserver restart lasted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from syncjob_operator.backends.kube import Kube, KubeError
from syncjob_operator.backends.kubelogin import Login, Source
from tests.env import processes
from tests.env.faultproxy import Mode, ThreadedFaultProxy


async def _get(port: int) -> None:
    kube = Kube(Login(Source(server=f"http://127.0.0.1:{port}")))
    try:
        await kube.get("/api/v1/namespaces/default")
    finally:
        await kube.close()


def _nobody() -> tuple[int, Callable[[], None]]:
    return processes.free_port(), lambda: None


def _proxy(mode: Mode) -> Callable[[], tuple[int, Callable[[], None]]]:
    def make() -> tuple[int, Callable[[], None]]:
        proxy = ThreadedFaultProxy("127.0.0.1", processes.free_port()).start()
        proxy.set_mode(mode)
        return proxy.port, proxy.stop

    return make


@pytest.mark.parametrize(
    "server",
    [_nobody, _proxy(Mode.REFUSE), _proxy(Mode.DROP), _proxy(Mode.PASS)],
    ids=["nothing-listens", "refused", "reset-after-the-request", "upstream-down"],
)
def test_a_server_out_of_reach_is_a_kube_error(
    server: Callable[[], tuple[int, Callable[[], None]]],
) -> None:
    port, stop = server()
    try:
        with pytest.raises(KubeError) as caught:
            asyncio.run(_get(port))
    finally:
        stop()
    assert caught.value.status == 0
    assert "could not be reached" in caught.value.message, caught.value.message
