"""A small TCP/HTTP proxy that injects faults in front of a real server.

Why this exists: the operator must survive a Kafka Connect REST API that
answers 500, hangs, drops connections or refuses them, and the e2e tests want
those faults in front of the *real* Connect worker, switched at run time, not
a mock that answers what we think Connect answers.

Modes (:class:`Mode`), switched at any time with ``set_mode(Mode.HANG)``:

* ``PASS``    bytes flow both ways to the upstream server;
* ``HTTP_ERROR`` every request gets ``HTTP/1.1 <status>`` (default 500) with a
  Connect-style JSON body ``{"error_code": ..., "message": ...}`` and
  ``Connection: close``;
* ``HANG``    connections are accepted, requests read, nothing is answered
  until the mode changes or the proxy stops (the client times out);
* ``DROP``    the request is read, then the connection is reset (no answer);
* ``REFUSE``  the listening socket is closed: connects get ECONNREFUSED.  The
  same port is bound again when the mode leaves REFUSE.
* ``DELAY``   every request is answered by the upstream server, ``delay_s``
  seconds late (default 10): a slow server, not a dead one.  Each request
  goes upstream on a connection of its own with ``Connection: close``, so a
  kept-alive client connection cannot carry a request past the delay.

Changing the mode severs every open connection, so an HTTP client's kept-alive
connection from before the switch cannot bypass the new mode.

In ``PASS`` mode it also counts the HTTP requests it forwards, by method and
target (``GET /connectors?expand=status``) in :attr:`FaultProxy.requests`
and by path shape (``GET /connectors/{name}/status``) in
:attr:`FaultProxy.request_shapes`, so a test or a benchmark can say what the
operator costs a server, not only what it achieves.

Two ways to run it: :class:`FaultProxy` in the caller's event loop
(``await proxy.start()``), or :class:`ThreadedFaultProxy`, which runs one in a
daemon thread with a sync API for sync fixtures and other processes.  It
listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from tests.env import processes


class Mode(enum.Enum):
    PASS = "pass"
    HTTP_ERROR = "http_error"
    HANG = "hang"
    DROP = "drop"
    REFUSE = "refuse"
    DELAY = "delay"


_REASONS = {
    400: "Bad Request",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
MAX_HEAD_BYTES = 64 * 1024


@dataclass
class FaultProxy:
    """An asyncio proxy from ``127.0.0.1:port`` to ``upstream_host:upstream_port``."""

    upstream_host: str
    upstream_port: int
    port: int = 0  # 0: pick a free port at start
    error_status: int = 500
    error_message: str = "injected fault (tests/env/faultproxy.py)"
    delay_s: float = 10.0
    connections: Counter[str] = field(default_factory=Counter)  # accepted, by mode
    # Requests forwarded in PASS mode, by "METHOD target" (target as sent, query included).
    requests: Counter[str] = field(default_factory=Counter)
    # The same, by "METHOD /path/shape" (path_shape: the connectors' names left out).
    request_shapes: Counter[str] = field(default_factory=Counter)
    # When (time.time()) each "METHOD target" was last forwarded: a bench's timeline.
    last_seen: dict[str, float] = field(default_factory=dict)
    _mode: Mode = Mode.PASS
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _mode_changed: asyncio.Event | None = None
    _lock: asyncio.Lock | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mode(self) -> Mode:
        return self._mode

    async def start(self) -> None:
        self._mode_changed = asyncio.Event()
        self._lock = asyncio.Lock()
        if self._mode is not Mode.REFUSE:
            await self._listen()
        elif not self.port:
            self.port = processes.free_port()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def set_mode(
        self,
        mode: Mode,
        *,
        status: int | None = None,
        message: str | None = None,
        delay_s: float | None = None,
    ) -> None:
        """Switch mode; sever open connections; bind or unbind for REFUSE."""
        assert self._lock is not None and self._mode_changed is not None, "not started"
        async with self._lock:
            if status is not None:
                self.error_status = status
            if message is not None:
                self.error_message = message
            if delay_s is not None:
                self.delay_s = delay_s
            old, self._mode = self._mode, mode
            self._sever_all()
            self._mode_changed.set()
            self._mode_changed = asyncio.Event()
            if mode is Mode.REFUSE and self._server is not None:
                self._server.close()
                await self._server.wait_closed()
                self._server = None
            elif old is Mode.REFUSE and mode is not Mode.REFUSE:
                await self._listen()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self._sever_all()
        if self._mode_changed is not None:
            self._mode_changed.set()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    def _sever_all(self) -> None:
        for w in list(self._writers):
            _reset(w)
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        mode = self._mode
        self.connections[mode.value] += 1
        try:
            if mode is Mode.PASS:
                await self._pipe(reader, writer)
            elif mode is Mode.HTTP_ERROR:
                await _read_request(reader)
                body = json.dumps(
                    {"error_code": self.error_status, "message": self.error_message}
                ).encode()
                reason = _REASONS.get(self.error_status, "Error")
                writer.write(
                    f"HTTP/1.1 {self.error_status} {reason}\r\n"
                    "Content-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
                writer.close()
            elif mode is Mode.HANG:
                changed = self._mode_changed
                assert changed is not None
                await changed.wait()  # released (and severed) by the next mode change
            elif mode is Mode.DELAY:
                await self._delayed(reader, writer)
            elif mode is Mode.DROP:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(_read_request(reader), timeout=5)
                _reset(writer)
            else:  # REFUSE while the old listener still delivered one
                _reset(writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _open_upstream(
        self, writer: asyncio.StreamWriter
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """A connection to the upstream server, or None with the client's reset."""
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(self.upstream_host, self.upstream_port), timeout=10
            )
        except (TimeoutError, OSError):
            _reset(writer)
            return None
        self._writers.add(up_writer)
        return up_reader, up_writer

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await self._open_upstream(writer)
        if upstream is None:
            return
        up_reader, up_writer = upstream

        counter = RequestCounter(self.requests, self.request_shapes, self.last_seen)

        async def copy(
            src: asyncio.StreamReader, dst: asyncio.StreamWriter, count: bool = False
        ) -> None:
            try:
                while data := await src.read(65536):
                    if count:
                        counter.feed(data)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    if dst.can_write_eof():
                        dst.write_eof()

        try:
            await asyncio.gather(copy(reader, up_writer, count=True), copy(up_reader, writer))
        finally:
            self._writers.discard(up_writer)
            with contextlib.suppress(Exception):
                up_writer.close()

    async def _delayed(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Each request on this connection: wait, then forward it and relay the whole answer."""
        while True:
            try:
                request = await _read_request(reader)
            except asyncio.IncompleteReadError:
                return  # the client closed its kept-alive connection
            await asyncio.sleep(self.delay_s)
            upstream = await self._open_upstream(writer)
            if upstream is None:
                return
            up_reader, up_writer = upstream
            try:
                up_writer.write(_connection_close(request))
                await up_writer.drain()
                # Connection: close: the answer ends where the upstream closes.
                while data := await up_reader.read(65536):
                    writer.write(data)
                await writer.drain()
            finally:
                self._writers.discard(up_writer)
                with contextlib.suppress(Exception):
                    up_writer.close()
            # The answer says Connection: close (the server echoes it): so does the proxy.
            writer.close()
            return


def _connection_close(request: bytes) -> bytes:
    """The request with its Connection header replaced by ``Connection: close``."""
    head, _, body = request.partition(b"\r\n\r\n")
    lines = [
        line
        for line in head.split(b"\r\n")
        if line.partition(b":")[0].strip().lower() not in (b"connection", b"keep-alive")
    ]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body


class RequestCounter:
    """Counts the HTTP/1.1 requests in one client-to-server byte stream: by target and by shape.

    The bytes pass on as they come: counting never holds a request back, and a
    stream that is not plain HTTP (TLS to kube-apiserver) is copied untouched.

    Fed the bytes as they pass; a request head is parsed once complete and its
    Content-Length body skipped (every client here sends bodies that way, no
    chunked uploads).  The shape names the Connect REST API's variable parts:
    ``/connectors/{name}/tasks/{task}/status``; a query keeps its keys only.
    """

    def __init__(
        self, targets: Counter[str], shapes: Counter[str], seen: dict[str, float] | None = None
    ) -> None:
        self.targets = targets
        self.shapes = shapes
        self.seen = seen
        self._buffer = b""
        self._skip = 0  # body bytes of the current request still to pass

    def feed(self, data: bytes) -> None:
        if self._skip:
            taken = min(self._skip, len(data))
            self._skip -= taken
            data = data[taken:]
        self._buffer += data
        while not self._skip and b"\r\n\r\n" in self._buffer:
            head, _, rest = self._buffer.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, _, target = lines[0].partition(" ")
            path = target.rsplit(" ", 1)[0]
            self.targets[f"{method} {path}"] += 1
            if self.seen is not None:
                self.seen[f"{method} {path}"] = time.time()
            self.shapes[f"{method} {path_shape(path)}"] += 1
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length" and value.strip().isdigit():
                    length = int(value.strip())
            taken = min(length, len(rest))
            self._skip = length - taken
            self._buffer = rest[taken:]
        if len(self._buffer) > MAX_HEAD_BYTES:  # not HTTP: stop trying
            self._buffer = b""


def path_shape(target: str) -> str:
    """``/connectors/orders/tasks/0/status?x=1`` -> ``/connectors/{name}/tasks/{task}/status?x``."""
    path, _, query = target.partition("?")
    parts = path.split("/")
    for i in range(1, len(parts)):
        if parts[i - 1] == "connectors" and parts[i]:
            parts[i] = "{name}"
        elif parts[i - 1] == "tasks" and parts[i]:
            parts[i] = "{task}"
    keys = sorted({kv.partition("=")[0] for kv in query.split("&") if kv})
    return "/".join(parts) + ("?" + "&".join(keys) if keys else "")


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    """Read one HTTP request head and its Content-Length body (enough to answer it)."""
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEAD_BYTES:
        return head
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            with contextlib.suppress(ValueError):
                length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return head + body


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), not a polite FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(Exception):
        writer.transport.abort()


class ThreadedFaultProxy:
    """A :class:`FaultProxy` on its own event loop in a daemon thread, with a sync API."""

    def __init__(self, upstream_host: str, upstream_port: int, port: int = 0) -> None:
        self.proxy = FaultProxy(upstream_host, upstream_port, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="faultproxy", daemon=True
        )

    @property
    def url(self) -> str:
        return self.proxy.url

    @property
    def port(self) -> int:
        return self.proxy.port

    @property
    def mode(self) -> Mode:
        return self.proxy.mode

    def requests(self) -> Counter[str]:
        """A copy of the requests forwarded so far, by method and path shape."""
        return asyncio.run_coroutine_threadsafe(self._copy_requests(), self._loop).result(10)

    async def _copy_requests(self) -> Counter[str]:
        return Counter(self.proxy.request_shapes)

    def start(self) -> ThreadedFaultProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(timeout=10)
        return self

    def set_mode(
        self,
        mode: Mode,
        *,
        status: int | None = None,
        message: str | None = None,
        delay_s: float | None = None,
    ) -> None:
        fut = asyncio.run_coroutine_threadsafe(
            self.proxy.set_mode(mode, status=status, message=message, delay_s=delay_s),
            self._loop,
        )
        fut.result(timeout=10)

    def last_seen(self) -> dict[str, float]:
        """A copy of when each "METHOD target" was last forwarded (time.time())."""

        async def copy() -> dict[str, float]:
            return dict(self.proxy.last_seen)

        return asyncio.run_coroutine_threadsafe(copy(), self._loop).result(timeout=10)

    def request_counts(self) -> Counter[str]:
        """A copy of the requests forwarded so far, by "METHOD target" (taken on its loop)."""

        async def copy() -> Counter[str]:
            return Counter(self.proxy.requests)

        return asyncio.run_coroutine_threadsafe(copy(), self._loop).result(timeout=10)

    def reset_counts(self) -> None:
        async def clear() -> None:
            self.proxy.requests.clear()
            self.proxy.request_shapes.clear()

        asyncio.run_coroutine_threadsafe(clear(), self._loop).result(timeout=10)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.proxy.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> ThreadedFaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
