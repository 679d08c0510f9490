"""Running it in production (issue 6), checked on the real control plane and the real operator.

What a platform team relies on once the operator is installed, each read from
the real thing rather than from the code that produces it:

- Prometheus metrics, scraped over HTTP from the session operator's
  prometheus_client server: phase and stage per job, the seconds left to a
  paused job's retention deadline, reconcile durations; series gone when the
  job goes (a deleted job must not stay on dashboards and alerts).
- The JSON log: every line a JSON object, or log shippers drop or mangle it.
- Secrets: values the operator reads to reach Kafka Connect and the source
  database never show up in status, Events, the log or the metrics.
- ``kubectl syncjob`` found by real kubectl's plugin discovery, pausing and
  resuming a job and printing its table against the real API server.
- GitOps health: the Argo CD Lua check (deploy/argocd/health.lua, run in
  gopher-lua as Argo CD runs it, and in Lua 5.1 and 5.4 through lupa) and
  kstatus itself (``status.Compute`` from
  sigs.k8s.io/cli-utils, built by tests/env/build-kstatus.sh) fed SyncJobs whose
  status the real operator wrote.

Everything uses the workloads way of pausing (a real Deployment whose Pods
kwok makes Ready), which needs no Kafka.  Every wait is bounded.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.env import chart
from tests.env.processes import free_port
from tests.helpers.gitops import build_kstatus, kstatus, run_gopher_lua, run_lupa
from tests.helpers.kube import KUBECTL, VENV_BIN, Kube, patch_paused
from tests.helpers.manifests import deployment, secret, syncjob, workload_ref
from tests.helpers.metrics import Sample, of_job, scrape, scrape_when_up
from tests.helpers.operator import OperatorProcess
from tests.helpers.status import condition, converged

# --- 1. metrics ------------------------------------------------------------------


def test_metrics_follow_a_job_from_running_to_paused_to_deleted(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.apply(deployment("metered-debezium", 1), namespace=namespace)
    kube.apply(
        syncjob(
            "metered",
            {
                "workloads": [workload_ref("metered-debezium")],
                # Oracle: the retention comes from the spec, no database needed.
                "source": {"type": "oracle", "retention": "2h"},
            },
        ),
        namespace=namespace,
    )
    kube.wait_for("Running", lambda: converged(kube, namespace, "metered", "Running"))

    def phases() -> dict[str, float]:
        return {
            s.labels["phase"]: s.value
            for s in of_job(
                scrape_when_up(operator.metrics_url), "syncjob_phase", namespace, "metered"
            )
        }

    kube.wait_for("syncjob_phase Running 1", lambda: phases().get("Running") == 1)

    patch_paused(kube, namespace, "metered", True)
    paused = kube.wait_for("Paused", lambda: converged(kube, namespace, "metered", "Paused"))
    kube.wait_for("syncjob_phase Paused 1", lambda: phases().get("Paused") == 1)
    # Exactly one phase is 1, and every phase has a series (0 for the others),
    # so that `syncjob_phase{phase="Failed"} == 1` alerts need no `absent()`.
    now = phases()
    assert set(now) == {"Running", "PausePending", "Pausing", "Paused", "Resuming", "Failed"}
    assert [p for p, v in now.items() if v == 1] == ["Paused"], now

    def deadline_written() -> dict[str, Any] | None:
        obj = kube.get("syncjob", "metered", namespace)
        return obj if ((obj or {}).get("status") or {}).get("retentionDeadline") else None

    paused = kube.wait_for("status.retentionDeadline", deadline_written)

    def seconds_left() -> list[Sample]:
        return of_job(
            scrape(operator.metrics_url),
            "syncjob_retention_deadline_seconds",
            namespace,
            "metered",
        )

    left = kube.wait_for("syncjob_retention_deadline_seconds", seconds_left)
    assert len(left) == 1
    # pausedAt + 2h, read a little later: within (0, 7200].
    assert 0 < left[0].value <= 7200, left
    print(
        f"metrics: retention deadline {paused['status']['retentionDeadline']}, "
        f"{left[0].value:.0f}s left"
    )

    samples = scrape(operator.metrics_url)
    stages = {
        s.labels["stage"]: s.value for s in of_job(samples, "syncjob_stage", namespace, "metered")
    }
    assert set(stages) == {"Pending", "Snapshot", "CDC", "Unknown"}, stages
    assert [s for s, v in stages.items() if v == 1] == [paused["status"]["stage"]], stages
    counts = [s.value for s in samples if s.name == "syncjob_reconcile_duration_seconds_count"]
    assert counts and counts[0] > 0, counts
    print(f"metrics: stage {paused['status']['stage']}, {counts[0]:.0f} reconcile passes so far")

    kube.kubectl("delete", "syncjob", "metered", "-n", namespace, "--timeout=60s")
    assert kube.get("syncjob", "metered", namespace) is None

    def series_left() -> list[Sample] | None:
        samples = scrape(operator.metrics_url)
        left = [
            s
            for s in samples
            if s.labels.get("namespace") == namespace and s.labels.get("name") == "metered"
        ]
        return None if left else [Sample("gone", {}, 0)]

    kube.wait_for("every series of the deleted job to go", series_left, timeout=30)


class SilentConnect:
    """A Kafka Connect that takes every request and never answers (until the client gives up)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.requested = threading.Event()
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._conns.append(conn)
            conn.settimeout(1)
            try:
                if conn.recv(65536):
                    self.requested.set()
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self._conns:
            conn.close()
        self.sock.close()


@pytest.fixture
def silent_connect() -> Iterator[SilentConnect]:
    server = SilentConnect()
    yield server
    server.close()


def test_a_pass_in_flight_at_deletion_leaves_no_series(
    kube: Kube, operator: OperatorProcess, namespace: str, silent_connect: SilentConnect
) -> None:
    """A reconcile pass still waiting on Connect when the job is deleted must not bring
    its series back after the deletion handler removed them (dashboards and alerts
    would show a deleted job for as long as the operator runs).  Holds because Kopf
    cancels an async daemon at once when its object is deleted."""
    kube.apply(
        syncjob(
            "hung",
            {
                "onDelete": "Leave",
                "connect": {
                    "url": silent_connect.url,
                    "requestTimeout": "5s",
                    "connectors": ["orders-source"],
                },
            },
        ),
        namespace=namespace,
    )
    kube.wait_for(
        "the job's first series (after a pass that timed out)",
        lambda: of_job(scrape_when_up(operator.metrics_url), "syncjob_phase", namespace, "hung"),
        timeout=60,
    )
    # Delete while a request of a pass is on its way (it takes 5 s to time out).
    silent_connect.requested.clear()
    assert silent_connect.requested.wait(timeout=30), "the operator sent no request"
    kube.kubectl("delete", "syncjob", "hung", "-n", namespace, "--wait=false")
    # Gone only once Kopf's daemon has exited, i.e. after that pass ended.
    kube.wait_for("the SyncJob to go", lambda: kube.get("syncjob", "hung", namespace) is None)
    left = [
        s
        for s in scrape(operator.metrics_url)
        if s.labels.get("namespace") == namespace and s.labels.get("name") == "hung"
    ]
    assert not left, f"series of a deleted SyncJob: {left}"


# --- 2. logs and secrets ----------------------------------------------------------


class NotYet(dict[str, str]):
    """What was seen so far: falsy, so that ``Kube.wait_for`` keeps waiting and reports it."""

    def __bool__(self) -> bool:
        return False


def non_json_lines(log: Path) -> list[str]:
    bad = []
    for line in log.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError:
            bad.append(line)
            continue
        if not isinstance(parsed, dict) or "message" not in parsed:
            bad.append(line)
    return bad


def test_every_operator_log_line_is_json(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    # Some work of its own, so the log has per-object lines even when run alone.
    kube.apply(deployment("logged-debezium", 1), namespace=namespace)
    kube.apply(
        syncjob("logged", {"paused": True, "workloads": [workload_ref("logged-debezium")]}),
        namespace=namespace,
    )
    kube.wait_for("Paused", lambda: converged(kube, namespace, "logged", "Paused"))
    kube.kubectl("delete", "syncjob", "logged", "-n", namespace, "--timeout=60s")

    lines = [ln for ln in operator.log.read_text(errors="replace").splitlines() if ln.strip()]
    bad = non_json_lines(operator.log)
    assert not bad, f"{len(bad)} of {len(lines)} log lines are not JSON objects:\n" + "\n".join(
        bad[:40]
    )
    records = [json.loads(ln) for ln in lines]
    assert any("logged" in json.dumps(r) for r in records), "no line about the job"
    print(f"log: {len(lines)} lines, all JSON")


def no_rbac_kubeconfig(kube: Kube, namespace: str, path: Path) -> Path:
    """A kubeconfig for a fresh ServiceAccount that no Role or ClusterRole binds."""
    kube.kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    token = kube.kubectl(
        "create", "token", "nobody", "-n", namespace, "--duration=1h"
    ).stdout.strip()
    return chart.token_kubeconfig(kube.kubeconfig, user="nobody", token=token, path=path)


def test_a_fatal_error_is_logged_as_json_too(
    kube: Kube, crd: Path, namespace: str, tmp_path: Path
) -> None:
    """An operator that cannot watch SyncJobs (no RBAC) stops; why must reach the log
    shipper too, as JSON, not as a bare Python traceback on stderr."""
    op = OperatorProcess(
        kube=kube,
        log=tmp_path / "operator.log",
        env={
            "KUBECONFIG": str(no_rbac_kubeconfig(kube, namespace, tmp_path / "kubeconfig")),
            "SYNCJOB_LOG_FORMAT": "json",
        },
    )
    op.start()
    try:
        assert op.proc is not None
        returncode = op.proc.wait(timeout=180)
    finally:
        op.stop()
    assert returncode != 0
    bad = non_json_lines(op.log)
    assert not bad, f"{len(bad)} lines are not JSON:\n" + "\n".join(bad[:40])
    records = [json.loads(ln) for ln in op.log.read_text().splitlines() if ln.strip()]
    assert any("forbidden" in json.dumps(r).lower() for r in records), op.tail(5)


@dataclass(frozen=True)
class Planted:
    """Secret values planted for the operator to read, and the forms a leak could take."""

    values: tuple[str, ...]

    @property
    def needles(self) -> list[str]:
        forms = list(self.values)
        for value in self.values:
            forms.append(base64.b64encode(value.encode()).decode())
        # An HTTP Basic Authorization header of the Connect credentials.
        user, password = self.values[0], self.values[1]
        forms.append(base64.b64encode(f"{user}:{password}".encode()).decode())
        return forms

    def find_in(self, text: str) -> list[str]:
        return [n for n in self.needles if n in text]


@pytest.fixture
def planted() -> Planted:
    return Planted(tuple(f"s3cr3t-{what}-{uuid.uuid4().hex}" for what in ("cu", "cp", "du", "dp")))


def test_no_secret_in_status_events_log_or_metrics(
    kube: Kube, operator: OperatorProcess, namespace: str, planted: Planted
) -> None:
    connect_user, connect_password, db_user, db_password = planted.values
    closed_connect, closed_db = free_port(), free_port()
    kube.apply(
        secret("connect-auth", {"username": connect_user, "password": connect_password}),
        namespace=namespace,
    )
    kube.apply(
        secret(
            "source-db",
            {
                "host": "127.0.0.1",
                "port": str(closed_db),
                "user": db_user,
                "password": db_password,
                "dbname": "orders",
            },
        ),
        namespace=namespace,
    )
    # The Connect credentials: read for every look at Connect, which is not there.
    kube.apply(
        syncjob(
            "via-connect",
            {
                "paused": True,
                "connect": {
                    "url": f"http://127.0.0.1:{closed_connect}",
                    "authSecretRef": {"name": "connect-auth"},
                    "connectors": ["orders-source"],
                },
            },
        ),
        namespace=namespace,
    )
    # The source database's credentials: read by the retention probe of a paused job.
    kube.apply(deployment("db-debezium", 1), namespace=namespace)
    kube.apply(
        syncjob(
            "via-source",
            {
                "paused": True,
                "workloads": [workload_ref("db-debezium")],
                "source": {"type": "mariadb", "connectionSecretRef": {"name": "source-db"}},
            },
        ),
        namespace=namespace,
    )

    def conditions_naming(name: str, *parts: str) -> Any:
        """The job's conditions once one of them names every part; else a falsy record."""
        obj = kube.get("syncjob", name, namespace)
        seen = {
            c["type"]: f"{c.get('status')} {c.get('reason')}: {c.get('message')}"
            for c in ((obj or {}).get("status") or {}).get("conditions") or []
        }
        if any(all(p in text for p in parts) for text in seen.values()):
            return seen
        return NotYet(seen)

    # ConnectUnreachable (not SecretNotFound/SecretInvalid) proves the Secret was
    # read and turned into credentials before the request was tried.
    connect_seen = kube.wait_for(
        "a Connect error in the conditions",
        lambda: conditions_naming("via-connect", "ConnectUnreachable"),
    )
    # A refused connection to the port that is only in the Secret proves it was read.
    source_seen = kube.wait_for(
        "the source probe's error in the conditions",
        lambda: conditions_naming("via-source", "SourceUnreachable", "mariadb"),
        timeout=90,
    )
    print(f"secrets: via-connect {connect_seen}\nsecrets: via-source {source_seen}")
    # Let a few more resyncs log and write whatever they would.
    kube.wait_for(
        "more backend errors counted",
        lambda: any(
            s.name == "syncjob_backend_errors_total" and s.value >= 3
            for s in scrape_when_up(operator.metrics_url)
        ),
    )

    leaks: dict[str, list[str]] = {}
    for name in ("via-connect", "via-source"):
        text = kube.kubectl("get", "syncjob", name, "-n", namespace, "-o", "json").stdout
        leaks[f"SyncJob {name}"] = planted.find_in(text)
    events = kube.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    assert json.loads(events)["items"], "no Events at all: nothing to check"
    leaks["Events"] = planted.find_in(events)
    leaks["operator log"] = planted.find_in(operator.log.read_text(errors="replace"))
    with urllib.request.urlopen(operator.metrics_url, timeout=10) as response:
        leaks["metrics"] = planted.find_in(response.read().decode())
    assert not any(leaks.values()), f"secret values leaked: {leaks}"


# --- 3. the kubectl plugin -----------------------------------------------------------


def plugin(kube: Kube, *args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    """``kubectl syncjob ...`` as a user types it: real kubectl, the plugin on PATH."""
    env = {
        **os.environ,
        "KUBECONFIG": str(kube.kubeconfig),
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("KUBECTL", None)
    return subprocess.run(
        [KUBECTL, "syncjob", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def test_kubectl_plugin_pauses_shows_and_resumes(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.apply(deployment("orders-debezium", 2), namespace=namespace)
    kube.apply(
        syncjob(
            "orders",
            {
                "workloads": [workload_ref("orders-debezium")],
                "source": {"type": "oracle", "retention": "2h"},
            },
        ),
        namespace=namespace,
    )
    kube.wait_for("Running", lambda: converged(kube, namespace, "orders", "Running"))

    done = plugin(kube, "pause", "orders", "-n", namespace, "--wait", "--timeout", "120s")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "syncjobs.syncjob.dev/orders paused", done
    # --wait returned only once the operator had carried out this very patch.
    obj = kube.get("syncjob", "orders", namespace)
    assert obj is not None
    assert obj["spec"]["paused"] is True
    assert obj["status"]["phase"] == "Paused"
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    deploy = kube.get("deployment", "orders-debezium", namespace)
    assert deploy is not None and deploy["spec"]["replicas"] == 0

    kube.wait_for(
        "status.retentionDeadline",
        lambda: ((kube.get("syncjob", "orders", namespace) or {}).get("status") or {}).get(
            "retentionDeadline"
        ),
    )
    shown = plugin(kube, "status", "-n", namespace)
    assert shown.returncode == 0, shown.stderr
    header, *rows = shown.stdout.splitlines()
    assert header.split()[:7] == ["NAME", "STAGE", "PHASE", "PAUSED", "DEADLINE", "TIME", "LEFT"]
    row = next(r for r in rows if r.split()[0] == "orders").split()
    deadline = kube.get("syncjob", "orders", namespace)["status"]["retentionDeadline"]  # type: ignore[index]
    assert row[2:5] == ["Paused", "true", deadline], row
    # pausedAt + 2h, rounded down: "1h59m" (or thereabouts) on a run that is not slow.
    assert re.fullmatch(r"1h([0-9]|[1-5][0-9])m|2h", row[5]), row
    assert row[6] == "True", row
    print(f"plugin status:\n{shown.stdout}")

    done = plugin(kube, "resume", "orders", "-n", namespace, "--wait", "--timeout", "120s")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "syncjobs.syncjob.dev/orders resumed", done
    obj = kube.get("syncjob", "orders", namespace)
    assert obj is not None and obj["status"]["phase"] == "Running"
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    assert "pausedAt" not in obj["status"]
    deploy = kube.get("deployment", "orders-debezium", namespace)
    assert deploy is not None and deploy["spec"]["replicas"] == 2


def test_kubectl_plugin_wait_reports_a_stalled_pause(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> None:
    kube.apply(syncjob("broken", {"workloads": [workload_ref("missing")]}), namespace=namespace)
    done = plugin(kube, "pause", "broken", "-n", namespace, "--wait", "--timeout", "120s")
    assert done.returncode == 1, done
    assert "not paused" in done.stderr and "WorkloadNotFound" in done.stderr, done.stderr


# --- 4. GitOps health: Argo CD's Lua check and kstatus ------------------------------


@pytest.fixture(scope="module")
def kstatus_binary() -> Path:
    """The same binary runs the Argo CD health check in gopher-lua (``-argocd-health``)."""
    return build_kstatus()


def unschedulable_deployment(name: str, replicas: int) -> dict[str, Any]:
    """Pods that no node takes: scaling up never becomes ready, so a resume stays Resuming."""
    d = deployment(name, replicas)
    d["spec"]["template"]["spec"]["nodeSelector"] = {"syncjob.dev/no-such-node": "true"}
    return d


def stalled(kube: Kube, namespace: str, name: str) -> dict[str, Any] | None:
    obj = kube.get("syncjob", name, namespace)
    c = condition(obj, "Stalled")
    if (
        obj
        and c
        and c["status"] == "True"
        and obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
    ):
        return obj
    return None


@pytest.fixture
def real_statuses(
    kube: Kube, operator: OperatorProcess, namespace: str
) -> Iterator[dict[str, dict[str, Any]]]:
    """SyncJobs driven by the real operator into each state, read back from the API server."""
    kube.apply(deployment("running-debezium", 1), namespace=namespace)
    kube.apply(deployment("paused-debezium", 1), namespace=namespace)
    kube.apply(unschedulable_deployment("resuming-debezium", 1), namespace=namespace)
    for name, spec in {
        "running": {"workloads": [workload_ref("running-debezium")]},
        "paused": {"paused": True, "workloads": [workload_ref("paused-debezium")]},
        "stalled": {"paused": True, "workloads": [workload_ref("missing")]},
        "resuming": {"paused": True, "workloads": [workload_ref("resuming-debezium")]},
    }.items():
        kube.apply(syncjob(name, spec), namespace=namespace)
    objs: dict[str, dict[str, Any]] = {
        "running": kube.wait_for(
            "Running", lambda: converged(kube, namespace, "running", "Running")
        ),
        "paused": kube.wait_for("Paused", lambda: converged(kube, namespace, "paused", "Paused")),
        "stalled": kube.wait_for("Stalled", lambda: stalled(kube, namespace, "stalled")),
    }
    kube.wait_for("Paused", lambda: converged(kube, namespace, "resuming", "Paused"))
    # The object as stored right after the patch: the operator's status of the
    # previous generation, before it has seen this one.
    objs["unobserved"] = patch_paused(kube, namespace, "resuming", False)
    assert (
        objs["unobserved"]["status"]["observedGeneration"]
        < objs["unobserved"]["metadata"]["generation"]
    )
    objs["resuming"] = kube.wait_for(
        "Resuming (pods that never get a node)",
        lambda: converged(kube, namespace, "resuming", "Resuming"),
    )
    yield objs


# state -> (Argo CD health, kstatus status)
EXPECTED = {
    "running": ("Healthy", "Current"),
    "paused": ("Suspended", "Current"),
    "stalled": ("Degraded", "Failed"),
    "resuming": ("Progressing", "InProgress"),
    "unobserved": ("Progressing", "InProgress"),
}


def test_gitops_health_of_statuses_the_operator_wrote(
    real_statuses: dict[str, dict[str, Any]], kstatus_binary: Path
) -> None:
    got: dict[str, tuple[str, str]] = {}
    messages: dict[str, tuple[str, str]] = {}
    for state, obj in real_statuses.items():
        argo_health, argo_message = run_lupa(obj)
        # The interpreter Argo CD embeds must read the real status the same way.
        assert run_gopher_lua(kstatus_binary, obj) == (argo_health, argo_message), state
        kstatus_status, kstatus_message = kstatus(kstatus_binary, obj)
        got[state] = (argo_health, kstatus_status)
        messages[state] = (argo_message, kstatus_message)
        print(f"gitops: {state:10} {argo_health:11} {kstatus_status:10} {messages[state]}")
    assert got == EXPECTED, messages
    # The messages say why, in the operator's words.
    assert "missing" in messages["stalled"][0] and "missing" in messages["stalled"][1]
    assert "generation" in messages["unobserved"][1]
