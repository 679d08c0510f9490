"""Stopping a server process the tests started: its own signal, then SIGKILL, bounded."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def stop(proc: subprocess.Popen[bytes] | None, *, sig: signal.Signals, timeout_s: float) -> None:
    """Send ``sig`` (the server's clean shutdown); SIGKILL its process group if it hangs."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout_s)
