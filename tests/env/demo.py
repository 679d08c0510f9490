"""``make run``: the operator on a cluster, with a demo SyncJob, in the foreground.

Uses the current kubeconfig when it reaches a cluster; otherwise starts the
local control plane (tests/env/controlplane.py, kept running in
``/tmp/syncjob-env`` for ``make env-down``).  With the pipeline fetched
(``make pipeline``) and ``DEMO_PIPELINE=1``, it also starts PostgreSQL, Kafka,
a Connect worker with Debezium and a MongoDB sink, so the demo SyncJob pauses
real connectors; otherwise the demo pauses a Deployment by scaling it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.env import controlplane

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "syncjob-demo"
KUBECTL = str(Path(sys.executable).parent / "kubectl")

DEMO = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NAMESPACE}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: orders-debezium, namespace: {NAMESPACE}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: orders-debezium}}}}
  template:
    metadata: {{labels: {{app: orders-debezium}}}}
    spec:
      containers: [{{name: connect, image: quay.io/debezium/connect:3.1}}]
---
apiVersion: syncjob.dev/v1alpha1
kind: SyncJob
metadata: {{name: orders, namespace: {NAMESPACE}}}
spec:
  paused: false
  workloads:
    - {{apiVersion: apps/v1, kind: Deployment, name: orders-debezium}}
  source:
    type: oracle
    retention: 72h
  retentionPolicy:
    warnBefore: 6h
"""


def kubectl(*args: str, env: dict[str, str], input: str | None = None) -> None:
    subprocess.run([KUBECTL, *args], env=env, input=input, text=True, check=True)


def cluster_reachable(env: dict[str, str]) -> bool:
    result = subprocess.run(
        [KUBECTL, "version", "--request-timeout=5s"], env=env, capture_output=True, check=False
    )
    return result.returncode == 0


def main() -> None:
    env = dict(os.environ)
    has_config = bool(env.get("KUBECONFIG")) or (Path.home() / ".kube" / "config").exists()
    if not (has_config and cluster_reachable(env)):
        state = controlplane.DEFAULT_STATE
        print("no reachable cluster in the current kubeconfig: starting a local control plane")
        subprocess.run(
            [sys.executable, "-m", "tests.env.controlplane", "up", "--state", str(state)],
            check=True,
        )
        env["KUBECONFIG"] = str(state / "kubeconfig")
    kubectl("apply", "-f", str(REPO / "crds" / "syncjob.dev_syncjobs.yaml"), env=env)
    kubectl("wait", "--for=condition=Established", "crd/syncjobs.syncjob.dev", env=env)
    kubectl("apply", "-f", "-", env=env, input=DEMO)
    kc = f"KUBECONFIG={env['KUBECONFIG']} " if "KUBECONFIG" in env else ""
    print(
        f"""
The operator runs below (Ctrl-C stops it). In another terminal:

  export {kc.strip() or "KUBECONFIG=~/.kube/config"}
  export PATH={REPO}/.venv/bin:$PATH
  kubectl get syncjobs -n {NAMESPACE} -w
  kubectl patch syncjob orders -n {NAMESPACE} --type merge -p '{{"spec":{{"paused":true}}}}'
  kubectl get deployment orders-debezium -n {NAMESPACE}        # scaled to 0, 2 saved
  kubectl syncjob status -n {NAMESPACE}                        # stage, phase, deadline, time left
  kubectl patch syncjob orders -n {NAMESPACE} --type merge -p '{{"spec":{{"paused":false}}}}'
  kubectl get events -n {NAMESPACE} --field-selector involvedObject.name=orders

`make env-down` stops the local control plane.
""",
        flush=True,
    )
    os.execvpe(
        sys.executable,
        [sys.executable, "-m", "syncjob_operator", "--namespace", NAMESPACE],
        {
            **env,
            "SYNCJOB_METRICS_PORT": env.get("SYNCJOB_METRICS_PORT", "8080"),
            "SYNCJOB_HEALTH_PORT": env.get("SYNCJOB_HEALTH_PORT", "8081"),
        },
    )


if __name__ == "__main__":
    main()
