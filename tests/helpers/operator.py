"""The operator, run for real as ``python -m syncjob_operator``, under the process supervisor.

Why this exists: the integration and e2e tests run the real operator process
(its own settings, its own kubeconfig, its log in a file the tests read), and
restart or kill it in the middle of a test.  It never runs as the test
cluster's admin: an operator with admin rights proves nothing about the
chart's RBAC, so ``start()`` refuses the admin's kubeconfig; tests pass the
chart's ServiceAccount (``tests.env.chart.service_account_kubeconfig``), or a
deliberately unprivileged one.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.env import controlplane, processes
from tests.helpers.kube import Kube
from tests.helpers.paths import REPO

FAST_SETTINGS = {
    # Tests wait on real behaviour, so the operator looks often.
    "SYNCJOB_RESYNC_INTERVAL": "2",
    # As fast as the others' (the benchmarks run the default, 300 s).
    "SYNCJOB_WATCHED_RESYNC_INTERVAL": "2",
    "SYNCJOB_STAGE_POLL_INTERVAL": "1",
    "SYNCJOB_RETENTION_INTERVAL": "2",
    "SYNCJOB_RETRY_MIN": "0.5",
    "SYNCJOB_RETRY_MAX": "4",
    "SYNCJOB_METRICS_PORT": "0",
    "SYNCJOB_HEALTH_PORT": "0",
    "SYNCJOB_DELETE_TIMEOUT": "30",
}
START_TIMEOUT_S = 120.0
STOP_GRACE_S = 20.0

OPERATOR_NAMESPACE = "syncjob-system"


@dataclass
class OperatorProcess:
    """The operator process: ``settings`` and then ``env`` on top of the caller's environment.

    ``start()`` waits, when the operator serves metrics, until it does: an
    operator that dies at start (its port taken meanwhile, a bad setting)
    fails there with its log.  Without a metrics port there is nothing to
    wait for, and ``start()`` returns once the process runs.
    """

    kube: Kube
    log: Path
    env: dict[str, str]
    args: tuple[str, ...] = ("--verbose",)
    settings: Mapping[str, str] = field(default_factory=lambda: dict(FAST_SETTINGS))
    process: processes.Process | None = None

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        """The running process, or None."""
        return self.process.popen if self.process else None

    @property
    def metrics_url(self) -> str:
        """Where the operator serves Prometheus metrics (the session operator serves them)."""
        port = self._metrics_port()
        assert port, "this operator was started without metrics"
        return f"http://127.0.0.1:{port}/metrics"

    def _metrics_port(self) -> int:
        return int(
            self.env.get("SYNCJOB_METRICS_PORT", self.settings.get("SYNCJOB_METRICS_PORT", "0"))
        )

    def start(self) -> None:
        env = {**os.environ, **self.settings, "KUBECONFIG": str(self.kube.kubeconfig), **self.env}
        refuse_admin(Path(env["KUBECONFIG"]))
        self.process = processes.Process(
            name="operator",
            argv=[sys.executable, "-m", "syncjob_operator", *self.args],
            log=self.log,
            cwd=REPO,
            env=env,
            stop_grace_s=STOP_GRACE_S,
        )
        port = self._metrics_port()
        self.process.start(
            (lambda: processes.port_open(port)) if port else None,
            timeout_s=START_TIMEOUT_S,
            what=f"serving metrics on {port}",
        )

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.stop()
        self.process = None

    def restart(self, *, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    def tail(self, lines: int = 60) -> str:
        return processes.tail(self.log, lines)


def refuse_admin(kubeconfig: Path) -> None:
    """Fail when ``kubeconfig`` authenticates as the local control plane's admin."""
    config = yaml.safe_load(kubeconfig.read_text()) or {}
    tokens = {(u.get("user") or {}).get("token") for u in config.get("users") or []}
    if controlplane.ADMIN_TOKEN in tokens:
        raise AssertionError(
            f"{kubeconfig} is the admin's: run the operator with the chart's ServiceAccount "
            "(tests.env.chart.service_account_kubeconfig), so the test proves its RBAC"
        )


@contextlib.contextmanager
def stood_down(session: OperatorProcess) -> Iterator[None]:
    """The session's operator stopped for the block, and started again after it.

    For tests that run operators of their own (two replicas in a peering, a
    kubeconfig through a fault proxy, other settings): a second operator
    acting on the same SyncJobs would make the test prove nothing.
    """
    session.stop()
    try:
        yield
    finally:
        session.start()


def own_operator(
    session: OperatorProcess,
    log: Path,
    *,
    args: tuple[str, ...] = (),
    settings: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> OperatorProcess:
    """An operator like the session's (its credentials, JSON logs), not started yet.

    Its own log, metrics port and ``args`` (``--namespace``, ``--peering``...);
    ``settings`` on top of the fast test settings.
    """
    return OperatorProcess(
        kube=session.kube,
        log=log,
        env={
            **session.env,
            "SYNCJOB_METRICS_PORT": str(processes.free_port()),
            **(env or {}),
        },
        args=args,
        settings={**FAST_SETTINGS, **(settings or {})},
    )
