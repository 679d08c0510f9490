"""A real, local Kubernetes control plane for the tests and for ``make run``.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler, built from
their Go modules by ``build-k8s.sh`` (cached outside the repo), plus kwok,
which plays the kubelet of a fake node so Deployments and StatefulSets really
get Pods that become Ready.  Everything listens on free loopback ports and
lives in one state directory; ``stop()`` (or ``python -m tests.env.controlplane
down``) kills every process it started.

The admin identity is a static token in ``system:masters``; RBAC is on, so a
ServiceAccount's token (the Helm chart's) gets exactly what its Roles grant.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("SYNCJOB_CACHE", Path.home() / ".cache" / "syncjob-operator"))
K8S_VERSION = os.environ.get("K8S_VERSION", "v1.34.4")
ETCD_VERSION = os.environ.get("ETCD_VERSION", "v3.6.16")
KWOK_VERSION = os.environ.get("KWOK_VERSION", "v0.7.0")
DEFAULT_STATE = Path(os.environ.get("SYNCJOB_ENV_STATE", "/tmp/syncjob-env"))
ADMIN_TOKEN = "syncjob-test-admin-token"
FAKE_NODE = "kwok-node-0"
# Marks a kubeconfig this module wrote, so the test fixtures can refuse to run
# against any other cluster (a developer's real context, say).
TEST_CLUSTER_NAME = "syncjob-test-controlplane"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build() -> None:
    """Build (or find cached) binaries; a cold build takes many minutes."""
    subprocess.run(["bash", str(REPO / "tests/env/build-k8s.sh"), "all"], check=True)


def _bin(name: str) -> Path:
    if name == "etcd":
        return CACHE / f"etcd-{ETCD_VERSION}" / "etcd"
    if name == "kwok":
        return CACHE / f"kwok-{KWOK_VERSION}" / "kwok"
    return CACHE / f"kubernetes-{K8S_VERSION}" / name


@dataclass
class ControlPlane:
    state: Path
    api_port: int = 0
    etcd_port: int = 0
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    # --- lifecycle ------------------------------------------------------

    def start(self, *, with_nodes: bool = True, timeout: float = 120) -> ControlPlane:
        started = time.monotonic()
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "logs").mkdir(exist_ok=True)
        # A fresh store each start: tests and demos never depend on old objects.
        shutil.rmtree(self.state / "etcd", ignore_errors=True)
        self.etcd_port, self.api_port = free_port(), free_port()
        self._write_credentials()
        self._spawn(
            "etcd",
            [
                str(_bin("etcd")),
                f"--data-dir={self.state / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{free_port()}",
                "--unsafe-no-fsync",  # a throwaway test store: durability buys nothing
                "--log-level=warn",
            ],
        )
        self._spawn(
            "kube-apiserver",
            [
                str(_bin("kube-apiserver")),
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                f"--secure-port={self.api_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--cert-dir={self.state / 'certs'}",
                f"--token-auth-file={self.state / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={self.state / 'sa.pub'}",
                f"--service-account-signing-key-file={self.state / 'sa.key'}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
                "-v=0",
            ],
        )
        self._write_kubeconfig()
        self._wait_ready(timeout=timeout - (time.monotonic() - started))
        self._spawn(
            "kube-controller-manager",
            [
                str(_bin("kube-controller-manager")),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                f"--service-account-private-key-file={self.state / 'sa.key'}",
                "--use-service-account-credentials=false",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--controllers=*,-nodeipam,-cloud-node-lifecycle,-route,-service",
                "--concurrent-deployment-syncs=2",
                # kwok renews the fake node's lease; starved of CPU beside
                # the JVMs it can be late, and the default 50 s grace would
                # mark the node and its Pods NotReady under a running test.
                "--node-monitor-grace-period=10m",
                "-v=0",
            ],
        )
        if with_nodes:
            self._spawn(
                "kube-scheduler",
                [
                    str(_bin("kube-scheduler")),
                    f"--kubeconfig={self.kubeconfig}",
                    f"--authentication-kubeconfig={self.kubeconfig}",
                    f"--authorization-kubeconfig={self.kubeconfig}",
                    "--leader-elect=false",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={free_port()}",
                    "-v=0",
                ],
            )
            if _bin("kwok").exists():
                self._spawn(
                    "kwok",
                    [
                        str(_bin("kwok")),
                        f"--kubeconfig={self.kubeconfig}",
                        "--manage-all-nodes=false",
                        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                        "--cidr=10.244.0.0/16",
                        "--node-ip=10.244.0.1",
                        f"--server-address=127.0.0.1:{free_port()}",
                    ],
                )
                self._create_fake_node()
        self._save()
        print(
            f"control plane up in {time.monotonic() - started:.1f}s: KUBECONFIG={self.kubeconfig}",
            file=sys.stderr,
        )
        return self

    def stop(self) -> None:
        for name, pid in reversed(list(self.pids.items())):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.1)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            print(f"stopped {name} ({pid})", file=sys.stderr)
        self.pids.clear()
        with contextlib.suppress(FileNotFoundError):
            (self.state / "controlplane.json").unlink()

    # --- helpers --------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> None:
        if not Path(argv[0]).exists():
            raise FileNotFoundError(f"{argv[0]} is missing: run tests/env/build-k8s.sh")
        log = (self.state / "logs" / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.state
        )
        self.pids[name] = proc.pid
        self._save()

    def _save(self) -> None:
        data = {"api_port": self.api_port, "etcd_port": self.etcd_port, "pids": self.pids}
        (self.state / "controlplane.json").write_text(json.dumps(data))

    @classmethod
    def load(cls, state: Path) -> ControlPlane:
        data = json.loads((state / "controlplane.json").read_text())
        return cls(
            state=state,
            api_port=data["api_port"],
            etcd_port=data["etcd_port"],
            pids={k: int(v) for k, v in data["pids"].items()},
        )

    def _write_credentials(self) -> None:
        (self.state / "tokens.csv").write_text(f"{ADMIN_TOKEN},admin,admin,system:masters\n")
        key = self.state / "sa.key"
        if not key.exists():
            subprocess.run(
                ["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True
            )
            subprocess.run(
                ["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(self.state / "sa.pub")],
                check=True,
                capture_output=True,
            )

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": TEST_CLUSTER_NAME,
                    "cluster": {"server": self.server, "insecure-skip-tls-verify": True},
                }
            ],
            "users": [{"name": "admin", "user": {"token": ADMIN_TOKEN}}],
            "contexts": [
                {
                    "name": TEST_CLUSTER_NAME,
                    "context": {
                        "cluster": TEST_CLUSTER_NAME,
                        "user": "admin",
                        "namespace": "default",
                    },
                }
            ],
            "current-context": TEST_CLUSTER_NAME,
        }
        self.kubeconfig.write_text(json.dumps(config, indent=2))

    def request(self, path: str, *, method: str = "GET", body: object = None) -> object:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.server + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            raw = resp.read()
        return json.loads(raw) if raw[:1] in (b"{", b"[") else raw.decode()

    def _wait_ready(self, *, timeout: float) -> None:
        deadline = time.monotonic() + max(timeout, 5)
        last: Exception | None = None
        while time.monotonic() < deadline:
            for name, pid in self.pids.items():
                if not _alive(pid):
                    raise RuntimeError(f"{name} exited:\n{self._tail(name)}")
            try:
                if self.request("/readyz") == "ok":
                    return
            except Exception as exc:
                last = exc
            time.sleep(0.25)
        raise TimeoutError(f"kube-apiserver not ready: {last}\n{self._tail('kube-apiserver')}")

    def _tail(self, name: str, lines: int = 30) -> str:
        path = self.state / "logs" / f"{name}.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )

    def _create_fake_node(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": FAKE_NODE,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {"kubernetes.io/hostname": FAKE_NODE, "type": "kwok"},
            },
            "status": {
                "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            },
        }
        with contextlib.suppress(Exception):
            self.request("/api/v1/nodes", method="POST", body=node)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of ours counts as gone.
    with contextlib.suppress(FileNotFoundError):
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["build", "up", "down", "kubeconfig"])
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE)
    args = parser.parse_args()
    if args.command == "build":
        build()
    elif args.command == "up":
        if (args.state / "controlplane.json").exists():
            cp = ControlPlane.load(args.state)
            if all(_alive(p) for p in cp.pids.values()):
                print(cp.kubeconfig)
                return
            cp.stop()
        build()
        cp = ControlPlane(state=args.state).start()
        print(cp.kubeconfig)
    elif args.command == "down":
        if (args.state / "controlplane.json").exists():
            ControlPlane.load(args.state).stop()
    else:
        print(args.state / "kubeconfig")


if __name__ == "__main__":
    main()
