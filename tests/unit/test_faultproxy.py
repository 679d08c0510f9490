"""The fault proxy's DELAY mode in front of a real HTTP server (Python's http.server).

Why this exists: the e2e tests read "a slow Connect" from this mode, so it
must really hold every request back, kept-alive connections included, and
then deliver the server's own answer whole.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.env import processes
from tests.env.faultproxy import Mode, ThreadedFaultProxy

DELAY_S = 0.8


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[int]:
    (tmp_path / "hello.txt").write_text("hello from upstream\n")
    port = processes.free_port()
    proc = processes.Process(
        name="http-server",
        argv=[sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        log=tmp_path / "http.log",
        cwd=tmp_path,
    )
    proc.start(lambda: processes.port_open(port), timeout_s=30, what="listening")
    yield port
    proc.stop()


def test_delay_holds_every_request_then_relays_the_answer(upstream: int) -> None:
    proxy = ThreadedFaultProxy("127.0.0.1", upstream)
    with proxy, httpx.Client(base_url=proxy.url, timeout=10) as client:
        assert client.get("/hello.txt").text == "hello from upstream\n"  # PASS, kept alive
        proxy.set_mode(Mode.DELAY, delay_s=DELAY_S)
        # A client that waits less than the delay gets no answer, twice:
        # a kept-alive connection carries no request past the delay.
        with httpx.Client(base_url=proxy.url, timeout=DELAY_S / 3) as hasty:
            for _ in range(2):
                with pytest.raises(httpx.ReadTimeout):
                    hasty.get("/hello.txt")
        # A patient one gets the server's own answer, every time.
        for _ in range(2):
            r = client.get("/hello.txt")
            assert r.status_code == 200 and r.text == "hello from upstream\n"
        assert client.get("/missing").status_code == 404
        proxy.set_mode(Mode.PASS)
        assert client.get("/hello.txt").text == "hello from upstream\n"
    assert proxy.proxy.connections["delay"] >= 5
