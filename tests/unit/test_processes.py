"""The process supervisor every test server runs under (tests/env/processes.py), on real processes.

A server that dies while starting must fail its start at once with its log,
not leave a test waiting for it; a stop must end the process even when it
ignores the polite signal.  The processes here are small Python programs, so
this runs without the heavy set-up.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from tests.env import processes

# A bound far beyond anything these processes need: reaching it would mean
# the supervisor missed the death it should have seen.
NEVER_S = 600.0


def http_server(port: int, log: Path) -> processes.Process:
    return processes.Process(
        name="http-server",
        argv=[sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        log=log,
        cwd=log.parent,
    )


def test_a_server_that_cannot_bind_its_port_fails_its_start_with_its_log(
    taken_port: int, tmp_path: Path
) -> None:
    proc = http_server(taken_port, tmp_path / "http.log")
    with pytest.raises(processes.StartError) as caught:
        # The port answers (the other holder listens), so only the death of
        # the process can end this wait before the bound.
        proc.start(lambda: "Serving HTTP" in proc.tail(), timeout_s=NEVER_S, what="serving")
    message = str(caught.value)
    assert "http-server exited" in message
    assert "Address already in use" in message, message  # the tail of its own log
    assert proc.popen is None  # reaped, nothing left running


def test_a_server_that_comes_up_is_ready_and_stops_on_its_signal(tmp_path: Path) -> None:
    port = processes.free_port()
    proc = http_server(port, tmp_path / "http.log")
    proc.start(lambda: processes.port_open(port), timeout_s=NEVER_S, what="listening")
    assert proc.running
    assert proc.started_in_s > 0
    popen = proc.popen
    assert popen is not None
    proc.stop()
    assert popen.returncode == -signal.SIGTERM
    assert not processes.port_open(port)


def test_a_process_that_ignores_the_stop_signal_is_killed_after_the_grace(
    tmp_path: Path,
) -> None:
    program = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('up', flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = processes.Process(
        name="stubborn", argv=[sys.executable, "-c", program], log=tmp_path / "stubborn.log"
    )
    proc.start(lambda: "up" in proc.tail(), timeout_s=NEVER_S)
    popen = proc.popen
    assert popen is not None
    proc.stop(grace_s=0.5)
    assert popen.returncode == -signal.SIGKILL
    assert not processes.alive(popen.pid)


def test_a_server_never_ready_is_stopped_at_the_bound(tmp_path: Path) -> None:
    proc = processes.Process(
        name="silent",
        argv=[sys.executable, "-c", "import time; time.sleep(600)"],
        log=tmp_path / "silent.log",
    )
    with pytest.raises(TimeoutError) as caught:
        proc.start(lambda: False, timeout_s=1, what="ready")
    assert "silent not ready" in str(caught.value)
    assert proc.popen is None
