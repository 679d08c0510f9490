"""FerretDB (SQLite backend) for the tests: the MongoDB-wire target of the pipeline's sink.

Why this exists: the e2e tests check that every row reaches a MongoDB-wire
database, and FerretDB is one that needs no MongoDB licence or container:
one binary from the Go module proxy (``tests/env/fetch-pipeline.sh``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.env import artifacts, processes

FERRETDB_START_TIMEOUT_S = 30.0


@dataclass
class FerretDB:
    """FerretDB (SQLite backend) speaking the MongoDB wire protocol on 127.0.0.1:port."""

    port: int
    debug_port: int
    state_dir: Path
    process: processes.Process

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    @property
    def logfile(self) -> Path:
        assert self.process.log is not None
        return self.process.log

    def start(self, timeout_s: float = FERRETDB_START_TIMEOUT_S) -> None:
        self.process.start(self._ready, timeout_s=timeout_s, what="ready (/debug/readyz)")

    def _ready(self) -> bool:
        r = httpx.get(f"http://127.0.0.1:{self.debug_port}/debug/readyz", timeout=3)
        return r.status_code == 200 and processes.port_open(self.port)

    def restart(self) -> None:
        self.process.stop()
        self.start()

    def stop(self) -> None:
        self.process.stop()


def start_ferretdb(
    state_dir: Path,
    *,
    port: int | None = None,
    sqlite_pragmas: tuple[str, ...] = ("synchronous(off)",),
    timeout_s: float = FERRETDB_START_TIMEOUT_S,
) -> FerretDB:
    """Start FerretDB with the SQLite backend under ``state_dir/ferretdb``.

    ``synchronous(off)``: a throwaway test target, and without it every
    upsert waits for an fsync (FerretDB adds ``journal_mode(wal)`` itself).
    """
    state = Path(state_dir).resolve() / "ferretdb"
    data = state / "data"
    data.mkdir(parents=True, exist_ok=True)
    port = port or processes.free_port()
    debug_port = processes.free_port()
    query = "?" + "&".join(f"_pragma={p}" for p in sqlite_pragmas) if sqlite_pragmas else ""
    process = processes.Process(
        name="ferretdb",
        argv=[
            str(artifacts.ferretdb_binary()),
            "--handler=sqlite",
            f"--sqlite-url=file:{data}/{query}",
            f"--listen-addr=127.0.0.1:{port}",
            f"--debug-addr=127.0.0.1:{debug_port}",
            f"--state-dir={state}",
            "--telemetry=disable",
            "--log-level=info",
            "--log-format=text",
        ],
        log=state / "ferretdb.log",
        cwd=state,
        stop_grace_s=5.0,  # it waits for clients to hang up; nothing to flush here
        stop_at_exit=True,
    )
    server = FerretDB(port=port, debug_port=debug_port, state_dir=state, process=process)
    server.start(timeout_s)
    return server
