"""Shared fixtures: a real control plane, the CRD, the operator, a namespace per test.

The control plane is the one tests/env/controlplane.py starts (etcd,
kube-apiserver, kube-controller-manager, kube-scheduler, kwok), or, with
``--kind``, a kind cluster through pytest-kind where Docker exists.  Fixtures
refuse any other cluster: the tests create and delete things.

A skipped test proves nothing, so a run in which any test was skipped fails
(tests marked ``kind`` aside, which only run with ``--kind``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
KUBECTL = str(VENV_BIN / "kubectl") if (VENV_BIN / "kubectl").exists() else "kubectl"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kind", action="store_true", help="run the cluster tests on a kind cluster (pytest-kind)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--kind"):
        return
    skip = pytest.mark.skip(reason="kind-only: run with --kind where Docker exists")
    for item in items:
        if "kind" in item.keywords:
            item.add_marker(skip)


_SKIPPED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "kind" not in report.keywords:
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SKIPPED:
        print(
            f"\nFAILED: {len(_SKIPPED)} test(s) skipped; a skipped real-server test proves "
            "nothing:\n  " + "\n  ".join(_SKIPPED),
            file=sys.stderr,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --- the cluster ---------------------------------------------------------------


@dataclass
class Kube:
    """A test cluster: its kubeconfig, and kubectl run against it."""

    kubeconfig: Path
    env: dict[str, str] = field(default_factory=dict)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [KUBECTL, *args],
            input=input,
            capture_output=True,
            text=True,
            env={**os.environ, **self.env, "KUBECONFIG": str(self.kubeconfig)},
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result

    def apply(self, manifest: dict[str, Any] | str, *, namespace: str | None = None) -> None:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        ns = ["-n", namespace] if namespace else []
        self.kubectl("apply", *ns, "-f", "-", input=text)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        ns = ["-n", namespace] if namespace else []
        result = self.kubectl("get", kind, name, *ns, "-o", "json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr:
                return None
            raise AssertionError(result.stderr)
        return dict(json.loads(result.stdout))

    def wait_for(
        self,
        what: str,
        predicate: Callable[[], Any],
        *,
        timeout: float = 60,
        interval: float = 0.2,
    ) -> Any:
        """Poll until ``predicate`` returns something truthy; fail with ``what`` after the bound."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        out = self.kubectl(
            "get",
            "events",
            "-n",
            namespace,
            "-o",
            "json",
            "--field-selector",
            f"involvedObject.name={name}",
        )
        return list(json.loads(out.stdout)["items"])


@pytest.fixture(scope="session")
def kube(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Kube]:
    if request.config.getoption("--kind"):
        cluster = request.getfixturevalue("kind_cluster")  # pytest-kind
        yield Kube(kubeconfig=Path(cluster.kubeconfig_path))
        return
    from tests.env import controlplane

    state = tmp_path_factory.mktemp("controlplane")
    plane = controlplane.ControlPlane(state=state)
    controlplane.build()
    plane.start()
    try:
        kube = Kube(kubeconfig=plane.kubeconfig)
        config = yaml.safe_load(plane.kubeconfig.read_text())
        assert config["current-context"] == controlplane.TEST_CLUSTER_NAME, "not a test cluster"
        kube.wait_for(
            "the kwok node to be Ready",
            lambda: (
                "True"
                in kube.kubectl(
                    "get",
                    "nodes",
                    "-o",
                    "jsonpath={.items[*].status.conditions[?(@.type=='Ready')].status}",
                    check=False,
                ).stdout
            ),
            timeout=60,
        )
        yield kube
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def crd(kube: Kube) -> Path:
    path = REPO / "crds" / "syncjob.dev_syncjobs.yaml"
    kube.kubectl("apply", "-f", str(path))
    kube.kubectl("wait", "--for=condition=Established", "crd/syncjobs.syncjob.dev", "--timeout=60s")
    return path


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", name)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false", check=False)


# --- the operator --------------------------------------------------------------

FAST_SETTINGS = {
    # Tests wait on real behaviour, so the operator looks often.
    "SYNCJOB_RESYNC_INTERVAL": "2",
    "SYNCJOB_STAGE_POLL_INTERVAL": "1",
    "SYNCJOB_RETENTION_INTERVAL": "2",
    "SYNCJOB_RETRY_MIN": "0.5",
    "SYNCJOB_RETRY_MAX": "4",
    "SYNCJOB_METRICS_PORT": "0",
    "SYNCJOB_HEALTH_PORT": "0",
    "SYNCJOB_DELETE_TIMEOUT": "30",
}


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's pick for 127.0.0.1:0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OperatorProcess:
    """The operator, run for real as ``python -m syncjob_operator``."""

    kube: Kube
    log: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def metrics_url(self) -> str:
        """Where the operator serves Prometheus metrics (the session operator serves them)."""
        port = self.env.get("SYNCJOB_METRICS_PORT", FAST_SETTINGS["SYNCJOB_METRICS_PORT"])
        assert port != "0", "this operator was started without metrics"
        return f"http://127.0.0.1:{port}/metrics"

    def start(self) -> None:
        env = {**os.environ, **FAST_SETTINGS, "KUBECONFIG": str(self.kube.kubeconfig), **self.env}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "syncjob_operator", "--verbose"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                cwd=REPO,
            )

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def restart(self, *, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


OPERATOR_NAMESPACE = "syncjob-system"


@pytest.fixture(scope="session")
def operator_kubeconfig(kube: Kube, crd: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Helm chart's ServiceAccount and RBAC, installed; a kubeconfig with its token.

    Every test that uses the operator runs it with these credentials, so the
    whole suite proves the chart's RBAC is enough for everything it does.
    """
    from tests.env import chart

    chart.install(
        kube,
        chart.helm_binary(),
        tmp_path_factory.mktemp("chart"),
        namespace=OPERATOR_NAMESPACE,
        values={},
    )
    return chart.service_account_kubeconfig(
        kube, namespace=OPERATOR_NAMESPACE, path=tmp_path_factory.mktemp("sa") / "kubeconfig"
    )


@pytest.fixture(scope="session")
def operator(
    kube: Kube, operator_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    op = OperatorProcess(
        kube=kube,
        log=tmp_path_factory.mktemp("operator") / "operator.log",
        env={
            "KUBECONFIG": str(operator_kubeconfig),
            "SYNCJOB_LOG_FORMAT": "json",
            "SYNCJOB_METRICS_PORT": str(free_port()),
        },
    )
    op.start()
    try:
        yield op
    finally:
        op.stop()
        if os.environ.get("SYNCJOB_TEST_SHOW_OPERATOR_LOG"):
            print(op.tail(200))


def syncjob(name: str, spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "syncjob.dev/v1alpha1",
        "kind": "SyncJob",
        "metadata": {"name": name, **meta},
        "spec": spec,
    }


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None
