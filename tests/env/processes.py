"""One supervisor for every server process the tests start, and one ``free_port``.

Why this exists: etcd, kube-apiserver, Kafka, PostgreSQL, the operator and the
rest are real processes, and each must start and stop with a bound.  A process
that dies while starting (a port taken between choosing it and binding it, a
bad flag, a missing file) must fail its start at once, with the tail of its
log, not show up minutes later as a test that hangs waiting for a server that
is not there.  One implementation, so every component gets the same
guarantees:

* the process runs in a session (process group) of its own, its stdout and
  stderr appended to one log file;
* :meth:`Process.start` polls a readiness probe with a bound and raises
  :class:`StartError` (with the log's tail) the moment the process exits, or
  ``TimeoutError`` (with the log's tail, the process stopped) at the bound;
* :meth:`Process.stop` sends the server's clean-shutdown signal, SIGKILLs the
  whole group after a grace period, and reaps it; every wait is bounded.

:func:`stop_pid` stops a group this interpreter did not start, from a pid a
state file kept (``python -m tests.env.controlplane down``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

POLL_INTERVAL_S = 0.25
# After SIGKILL a process goes at once unless the kernel holds it (a stuck
# disk); a bound all the same, so that a stop never hangs a test.
KILL_WAIT_S = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the kernel's pick for port 0).

    Racy by nature: another process may bind it before the caller's server
    does, which is why :meth:`Process.start` fails at once when a server dies
    while starting.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def tail(path: Path | None, lines: int = 60) -> str:
    """The last ``lines`` lines of a log file."""
    if path is None:
        return "(no log file: the output went to the terminal)"
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


class StartError(RuntimeError):
    """The process exited before it was ready; the message carries the tail of its log."""


@dataclass
class Process:
    """One server process: started with a bound, stopped with a bound.

    ``start()`` may be called again after ``stop()``: the same command, so the
    same ports.  ``log=None`` leaves the output on the caller's terminal (the
    foreground operator of ``make run``).
    """

    name: str
    argv: Sequence[str]
    log: Path | None
    cwd: Path | None = None
    env: Mapping[str, str] | None = None
    user: str | None = None  # run as this OS user and group (PostgreSQL refuses root)
    stop_signal: signal.Signals = signal.SIGTERM
    # False: the stop signal goes to the leader only (a postmaster must get
    # SIGINT itself; its backends would take it as "cancel the query").
    signal_group: bool = True
    stop_grace_s: float = 30.0
    stop_at_exit: bool = False  # also stop it when the interpreter exits
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started_in_s: float = 0.0  # wall time of the last start, spawn to ready
    _at_exit_registered: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def tail(self, lines: int = 60) -> str:
        return tail(self.log, lines)

    def start(
        self,
        ready: Callable[[], object] | None = None,
        *,
        timeout_s: float = 60.0,
        what: str = "ready",
    ) -> Process:
        """Spawn, then wait until ``ready()`` is truthy (no probe: spawn only)."""
        started = time.monotonic()
        self.spawn()
        if ready is not None:
            self.wait_ready(ready, timeout_s=timeout_s, what=what)
        self.started_in_s = time.monotonic() - started
        return self

    def spawn(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        with contextlib.ExitStack() as stack:
            out = None
            if self.log is not None:
                self.log.parent.mkdir(parents=True, exist_ok=True)
                out = stack.enter_context(self.log.open("ab"))
            self.popen = subprocess.Popen(
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT if out is not None else None,
                cwd=self.cwd,
                env=dict(self.env) if self.env is not None else None,
                start_new_session=True,  # its own process group: stop() reaches all of it
                user=self.user,
                group=self.user,
                extra_groups=[] if self.user else None,
            )
        if self.stop_at_exit and not self._at_exit_registered:
            atexit.register(self.stop)
            self._at_exit_registered = True

    def wait_ready(self, ready: Callable[[], object], *, timeout_s: float, what: str) -> None:
        """Poll ``ready``; raise at once if the process exits, and at the bound if it never is."""
        deadline = time.monotonic() + timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if not self.running:
                code = self.popen.returncode if self.popen else None
                self.stop()
                raise StartError(
                    f"{self.name} exited ({code}) before it was {what}; log {self.log}:\n"
                    + self.tail()
                )
            try:
                if ready():
                    return
            except Exception as exc:  # readiness probes fail in many ways while a server starts
                last_error = exc
            time.sleep(POLL_INTERVAL_S)
        self.stop()
        raise TimeoutError(
            f"{self.name} not {what} within {timeout_s:.0f}s (last probe error: {last_error});"
            f" log {self.log}:\n" + self.tail()
        )

    def wait(self, timeout_s: float | None = None) -> int:
        """Wait for the process to exit by itself; its return code."""
        if self.popen is None:
            raise RuntimeError(f"{self.name} was not started")
        return self.popen.wait(timeout=timeout_s)

    def stop(self, grace_s: float | None = None) -> None:
        """The clean-shutdown signal; SIGKILL for the group after the grace; reaped."""
        proc = self.popen
        if proc is None:
            return
        grace = self.stop_grace_s if grace_s is None else grace_s
        if proc.poll() is None:
            _signal(proc.pid, self.stop_signal, group=self.signal_group)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal(proc.pid, signal.SIGKILL, group=True)
                proc.wait(timeout=KILL_WAIT_S)
        # Whatever is left in its group (a server's children) goes too.
        _signal(proc.pid, signal.SIGKILL, group=True)
        self.popen = None

    def kill(self) -> None:
        """SIGKILL the group at once: a crash, not a shutdown."""
        proc = self.popen
        if proc is None:
            return
        _signal(proc.pid, signal.SIGKILL, group=True)
        proc.wait(timeout=KILL_WAIT_S)
        self.popen = None

    def rss_bytes(self) -> int:
        """Resident memory of the process (VmRSS), 0 when it is not running."""
        if not self.running or self.pid is None:
            return 0
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except FileNotFoundError:
            return 0
        return 0


def _signal(pid: int, sig: signal.Signals, *, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie child of ours counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(FileNotFoundError):
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return False
    return True


def stop_pid(pid: int, *, grace_s: float, sig: signal.Signals = signal.SIGTERM) -> None:
    """Stop the process group of ``pid``, which this interpreter did not start: ``sig``,
    then SIGKILL after ``grace_s``."""
    _signal(pid, sig, group=True)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.1)
    if alive(pid):
        _signal(pid, signal.SIGKILL, group=True)
