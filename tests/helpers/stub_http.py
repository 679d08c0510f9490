"""A local HTTP server that answers from a function: recorded Connect answers, replayed.

For the Connect client's unit tests: the answers are the real worker's
(recorded; the e2e tests check that the worker still gives them), served
over a real socket so the client's own HTTP stack is what is tested.  The
server runs in a thread, so a test may drive the client from any event loop.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from syncjob_operator.backends.connect import ConnectClient

# (method, path, query) -> (status code, body)
Answer = Callable[[str, str, str], tuple[int, bytes]]


@contextmanager
def serving(answer: Answer) -> Iterator[str]:
    """The URL of a server answering every request with ``answer``, while the block runs."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Connect's Jetty

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            url = urlsplit(self.path)
            kind = self.headers.get("Content-Type")
            if kind is not None and not kind.startswith("application/json"):
                # As Connect's Jersey does: a body it cannot read as JSON.
                code, body = (
                    415,
                    b'{"error_code": 415, "message": "HTTP 415 Unsupported Media Type"}',
                )
            else:
                code, body = answer(self.command, url.path, url.query)
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        # http.server dispatches on these names.
        do_GET = do_PUT = do_POST = do_DELETE = _answer  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@asynccontextmanager
async def connect_client(answer: Answer) -> AsyncIterator[ConnectClient]:
    """The operator's Connect client of a server answering with ``answer``; closed after."""
    with serving(answer) as url:
        client = ConnectClient(url)
        try:
            yield client
        finally:
            await client.aclose()
