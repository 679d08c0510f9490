"""A real, local Kubernetes control plane for the tests and for ``make run``.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler, built from
their Go modules by ``build-k8s.sh`` (cached outside the repo), plus kwok,
which plays the kubelet of a fake node so Deployments and StatefulSets really
get Pods that become Ready.  Everything listens on free loopback ports and
lives in one state directory; ``stop()`` (or ``python -m tests.env.controlplane
down``) kills every process it started.  Each component runs under
:mod:`tests.env.processes`: its start waits until it serves (its port, or the
API server's /readyz), and one that dies while starting (a port taken between
choosing and binding it) fails the whole start at once with its log's tail.

The admin identity is a static token in ``system:masters``; RBAC is on, so a
ServiceAccount's token (the Helm chart's) gets exactly what its Roles grant.
The API server always writes an audit log (``audit.log`` in the state
directory) of every request made by a ServiceAccount, at Metadata level (who,
verb, resource, response code; no bodies): the RBAC tests read it to see what
the operator asked for and what was refused.  Only ServiceAccounts are
logged, so the admin's kubectl calls and the control plane's own components
cost nothing, and a test session writes a few MB at most.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.env import processes

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("SYNCJOB_CACHE", Path.home() / ".cache" / "syncjob-operator"))
K8S_VERSION = os.environ.get("K8S_VERSION", "v1.34.4")
ETCD_VERSION = os.environ.get("ETCD_VERSION", "v3.6.16")
KWOK_VERSION = os.environ.get("KWOK_VERSION", "v0.7.0")
DEFAULT_STATE = Path(os.environ.get("SYNCJOB_ENV_STATE", "/tmp/syncjob-env"))
ADMIN_TOKEN = "syncjob-test-admin-token"
FAKE_NODE = "kwok-node-0"
# What one fake node takes, as a kubelet's default max-pods: a test with more
# Pods than that starts the plane with more nodes (``start(nodes=K)``).
PODS_PER_NODE = 110
# Marks a kubeconfig this module wrote, so the test fixtures can refuse to run
# against any other cluster (a developer's real context, say).
TEST_CLUSTER_NAME = "syncjob-test-controlplane"
STOP_GRACE_S = 10.0
# Metadata for ServiceAccounts (the operator's chart identity among them),
# nothing for anyone else; RequestReceived is dropped as each request's
# ResponseStarted/ResponseComplete says the same and more.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "Metadata", "userGroups": ["system:serviceaccounts"]},
        {"level": "None"},
    ],
}


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
    # pid by component: what controlplane.json keeps for ``down`` in another process
    pids: dict[str, int] = field(default_factory=dict)
    procs: dict[str, processes.Process] = field(default_factory=dict, repr=False)
    # Extra kube-apiserver flags (a test that needs, say, --watch-cache=false).
    apiserver_args: tuple[str, ...] = ()

    @property
    def kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def audit_log(self) -> Path:
        """JSON lines, one audit event per ServiceAccount request stage."""
        return self.state / "audit.log"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    # --- lifecycle ------------------------------------------------------

    def start(
        self,
        *,
        with_nodes: bool = True,
        nodes: int = 1,
        controllers_qps: int | None = None,
        timeout: float = 120,
    ) -> ControlPlane:
        """Start every component, each waited for; on any failure stop what started.

        ``nodes``: how many fake kwok nodes (``kwok-node-0`` ...), each taking
        :data:`PODS_PER_NODE` Pods.  ``controllers_qps``: the controller
        manager's and the scheduler's client rate (their defaults, 20 and 50
        requests/s, otherwise), for a bench that scales a thousand
        Deployments at once and wants to measure its own client, not theirs.
        """
        try:
            return self._start(
                with_nodes=with_nodes, nodes=nodes, controllers_qps=controllers_qps, timeout=timeout
            )
        except BaseException:
            self.stop()
            raise

    def _start(
        self, *, with_nodes: bool, nodes: int, controllers_qps: int | None, timeout: float
    ) -> ControlPlane:
        started = time.monotonic()

        def left() -> float:
            return max(timeout - (time.monotonic() - started), 5)

        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "logs").mkdir(exist_ok=True)
        # A fresh store each start: tests and demos never depend on old objects.
        shutil.rmtree(self.state / "etcd", ignore_errors=True)
        self.etcd_port, self.api_port = processes.free_port(), processes.free_port()
        self._write_credentials()
        self._spawn(
            "etcd",
            [
                str(_bin("etcd")),
                f"--data-dir={self.state / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{processes.free_port()}",
                "--unsafe-no-fsync",  # a throwaway test store: durability buys nothing
                "--log-level=warn",
            ],
        )
        self._wait_listening("etcd", self.etcd_port, timeout=left())
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
                f"--audit-policy-file={self.state / 'audit-policy.json'}",
                f"--audit-log-path={self.audit_log}",
                # Written as each request completes, so a test reads it at once.
                "--audit-log-mode=blocking",
                "--audit-log-maxsize=0",
                "-v=0",
                *self.apiserver_args,
            ],
        )
        self._write_kubeconfig()
        self.procs["kube-apiserver"].wait_ready(
            self._api_ready, timeout_s=left(), what="ready (/readyz)"
        )
        # The rest start side by side; each is waited for until it serves its port.
        serving: dict[str, int] = {}
        rate = (
            [f"--kube-api-qps={controllers_qps}", f"--kube-api-burst={2 * controllers_qps}"]
            if controllers_qps
            else []
        )
        serving["kube-controller-manager"] = processes.free_port()
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
                f"--secure-port={serving['kube-controller-manager']}",
                "--controllers=*,-nodeipam,-cloud-node-lifecycle,-route,-service",
                "--concurrent-deployment-syncs=2",
                # kwok renews the fake nodes' leases (--node-lease-duration-seconds
                # below); starved of CPU beside the JVMs it can be late, and the
                # default 50 s grace would mark a node and its Pods NotReady
                # under a running test.
                "--node-monitor-grace-period=10m",
                "-v=0",
            ],
        )
        if with_nodes:
            serving["kube-scheduler"] = processes.free_port()
            self._spawn(
                "kube-scheduler",
                [
                    str(_bin("kube-scheduler")),
                    f"--kubeconfig={self.kubeconfig}",
                    f"--authentication-kubeconfig={self.kubeconfig}",
                    f"--authorization-kubeconfig={self.kubeconfig}",
                    "--leader-elect=false",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={serving['kube-scheduler']}",
                    *rate,
                    "-v=0",
                ],
            )
            if _bin("kwok").exists():
                serving["kwok"] = processes.free_port()
                self._spawn(
                    "kwok",
                    [
                        str(_bin("kwok")),
                        f"--kubeconfig={self.kubeconfig}",
                        "--manage-all-nodes=false",
                        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                        # Without a lease kwok's default stages heartbeat a node's
                        # status only every 10-20 min: past the grace period
                        # above, so a suite longer than 10 min saw every Pod
                        # turn NotReady mid-test.  A lease is renewed every 10 s.
                        "--node-lease-duration-seconds=40",
                        "--cidr=10.244.0.0/16",
                        "--node-ip=10.244.0.1",
                        f"--server-address=127.0.0.1:{serving['kwok']}",
                    ],
                )
        for name, port in serving.items():
            self._wait_listening(name, port, timeout=left())
        if "kwok" in serving:
            self.add_fake_nodes(nodes)
        self._save()
        print(
            f"control plane up in {time.monotonic() - started:.1f}s: KUBECONFIG={self.kubeconfig}",
            file=sys.stderr,
        )
        return self

    def stop(self) -> None:
        """Stop every component, last started first: the ones this process started, or,
        for a plane loaded from its state directory, the pids it recorded."""
        if self.procs:
            for name, proc in reversed(list(self.procs.items())):
                proc.stop()
                print(f"stopped {name} ({self.pids.get(name)})", file=sys.stderr)
        else:
            for name, pid in reversed(list(self.pids.items())):
                processes.stop_pid(pid, grace_s=STOP_GRACE_S)
                print(f"stopped {name} ({pid})", file=sys.stderr)
        self.procs.clear()
        self.pids.clear()
        with contextlib.suppress(FileNotFoundError):
            (self.state / "controlplane.json").unlink()

    def restart_apiserver(self, *, kill: bool = False, timeout: float = 120) -> None:
        """Stop kube-apiserver (SIGKILL with ``kill``: no draining of requests in flight)
        and start it again: same port, certificates and etcd.

        Every client's connections (watches included) break; the objects stay.
        """
        proc = self.procs["kube-apiserver"]
        if kill:
            proc.kill()
        else:
            proc.stop()
        proc.start(self._api_ready, timeout_s=timeout, what="ready again (/readyz)")
        self.pids["kube-apiserver"] = proc.pid or 0
        self._save()

    # --- helpers --------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> None:
        if not Path(argv[0]).exists():
            raise FileNotFoundError(f"{argv[0]} is missing: run tests/env/build-k8s.sh")
        proc = processes.Process(
            name=name,
            argv=argv,
            log=self.state / "logs" / f"{name}.log",
            cwd=self.state,
            stop_grace_s=STOP_GRACE_S,
        )
        proc.spawn()
        self.procs[name] = proc
        self.pids[name] = proc.pid or 0
        self._save()

    def _wait_listening(self, name: str, port: int, *, timeout: float) -> None:
        self.procs[name].wait_ready(
            lambda: processes.port_open(port), timeout_s=timeout, what=f"listening on {port}"
        )

    def _api_ready(self) -> bool:
        return self.request("/readyz") == "ok"

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
        (self.state / "audit-policy.json").write_text(json.dumps(AUDIT_POLICY))
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

    def add_fake_nodes(self, count: int, *, first: int = 0) -> list[str]:
        """Fake nodes ``kwok-node-<first>`` ... for kwok to play; one already there stays."""
        names = [f"kwok-node-{i}" for i in range(first, first + count)]
        for name in names:
            with contextlib.suppress(Exception):
                self.request("/api/v1/nodes", method="POST", body=fake_node(name))
        return names


def fake_node(name: str) -> dict[str, object]:
    """A Node that the control plane's kwok manages (it selects them by annotation)."""
    pods = str(PODS_PER_NODE)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"kubernetes.io/hostname": name, "type": "kwok"},
        },
        "status": {
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": pods},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": pods},
        },
    }


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
            if all(processes.alive(p) for p in cp.pids.values()):
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
