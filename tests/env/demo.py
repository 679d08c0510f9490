"""``make run``: the operator on a cluster, with a demo SyncJob, in the foreground.

Uses the current kubeconfig when it reaches a cluster; otherwise starts the
local control plane (tests/env/controlplane.py, left running in
``/tmp/syncjob-env`` for ``make env-down``).  It then starts the real data
pipeline on loopback (PostgreSQL, Kafka, Kafka Connect with the Debezium
PostgreSQL source and the MongoDB sink, FerretDB), creates a table and the
job's two connectors, and applies a SyncJob that pauses them through the
Connect REST API and reads the retention from the replication slot.  A second
SyncJob pauses a Deployment by scaling it.  Ctrl-C stops the operator and the
pipeline.  ``DEMO_PIPELINE=0`` skips the pipeline.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psycopg

from tests.env import controlplane, processes

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "syncjob-demo"
STATE = Path(os.environ.get("SYNCJOB_DEMO_STATE", "/tmp/syncjob-demo"))
KUBECTL = str(Path(sys.executable).parent / "kubectl")

SCALED = f"""
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
metadata: {{name: scaled, namespace: {NAMESPACE}}}
spec:
  workloads:
    - {{apiVersion: apps/v1, kind: Deployment, name: orders-debezium}}
  source: {{type: oracle, retention: 72h}}
"""


def kubectl(*args: str, env: dict[str, str], input: str | None = None) -> None:
    subprocess.run([KUBECTL, *args], env=env, input=input, text=True, check=True)


def cluster_reachable(env: dict[str, str]) -> bool:
    result = subprocess.run(
        [KUBECTL, "version", "--request-timeout=5s"], env=env, capture_output=True, check=False
    )
    return result.returncode == 0


def start_pipeline(env: dict[str, str], stack: contextlib.ExitStack) -> str:
    """PostgreSQL + Kafka + Connect + FerretDB, a table, two connectors; the SyncJob YAML."""
    from tests.env import pipeline, postgres

    print("starting PostgreSQL, Kafka, Kafka Connect (Debezium, MongoDB sink), FerretDB ...")
    # A fresh demo each time: the data of the last one is of no use.
    shutil.rmtree(STATE, ignore_errors=True)
    STATE.mkdir(parents=True)
    pg = postgres.start_postgres(STATE / "postgres")
    stack.callback(pg.stop)
    p = pipeline.Pipeline.start(STATE / "pipeline", postgres=pg)
    stack.callback(p.stop)
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE orders (id int PRIMARY KEY, name text NOT NULL, qty int NOT NULL);"
            "INSERT INTO orders SELECT g, 'item-' || g, g FROM generate_series(1, 1000) g;"
        )
    p.connect.put_connector(
        "orders-source",
        p.postgres_source_config(
            topic_prefix="demo", tables=["public.orders"], slot_name="debezium_orders"
        ),
    )
    p.connect.put_connector(
        "orders-sink",
        p.mongo_sink_config(topics=["demo.public.orders"], database="demo", collection="orders"),
    )
    # The password stays in the Secret: the line printed reads it from there.
    env["DEMO_PSQL"] = (
        f"PGPASSWORD=$(kubectl get secret orders-source-db -n {NAMESPACE} "
        "-o jsonpath='{.data.password}' | base64 -d) "
        f"psql 'host={pg.host} port={pg.port} user={pg.user} dbname={pg.dbname}'"
    )
    env["DEMO_CONNECT"] = p.connect.url
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: orders-source-db, namespace: {NAMESPACE}}}
stringData:
  host: {pg.host}
  port: "{pg.port}"
  dbname: {pg.dbname}
  user: {pg.user}
  password: {pg.password}
---
apiVersion: syncjob.dev/v1alpha1
kind: SyncJob
metadata: {{name: orders, namespace: {NAMESPACE}}}
spec:
  paused: false
  connect:
    url: {p.connect.url}
    connectors: [orders-source, orders-sink]
  source:
    type: postgresql
    connectionSecretRef: {{name: orders-source-db}}
    slotName: debezium_orders
  kafka:
    bootstrapServers: {p.kafka.bootstrap}
    topics: [demo.public.orders]
  retentionPolicy: {{warnBefore: 6h}}
"""


def _stop_on(signum: int, _frame: object) -> None:
    # SIGTERM or SIGHUP (a closed terminal, `timeout`, systemd) stops the demo
    # like Ctrl-C does, so the pipeline below is stopped, not orphaned.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> None:
    signal.signal(signal.SIGTERM, _stop_on)
    signal.signal(signal.SIGHUP, _stop_on)
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
    kubectl("apply", "-f", "-", env=env, input=SCALED)
    with contextlib.ExitStack() as stack:
        job = ""
        if env.get("DEMO_PIPELINE", "1") != "0":
            job = start_pipeline(env, stack)
            kubectl("apply", "-f", "-", env=env, input=job)
        show_next_steps(env, with_pipeline=bool(job))
        # In the foreground: its log goes to the terminal.
        operator = processes.Process(
            name="operator",
            argv=[sys.executable, "-m", "syncjob_operator", "--namespace", NAMESPACE],
            log=None,
            env={
                **env,
                "SYNCJOB_METRICS_PORT": env.get("SYNCJOB_METRICS_PORT", "8080"),
                "SYNCJOB_HEALTH_PORT": env.get("SYNCJOB_HEALTH_PORT", "8081"),
            },
        ).start()
        try:
            operator.wait()
        except KeyboardInterrupt:
            operator.stop()
            print("stopping the pipeline ...", flush=True)


def show_next_steps(env: dict[str, str], *, with_pipeline: bool) -> None:
    ns = NAMESPACE
    print(f"""
The operator runs below (Ctrl-C stops it{" and the pipeline" if with_pipeline else ""}).
In another terminal:

  export KUBECONFIG={env.get("KUBECONFIG", "~/.kube/config")} PATH={REPO}/.venv/bin:$PATH
  kubectl get syncjobs -n {ns} -w
  kubectl patch syncjob orders -n {ns} --type merge -p '{{"spec":{{"paused":true}}}}'
  kubectl syncjob status -n {ns}          # stage, phase, retention deadline, time left
  kubectl get syncjob orders -n {ns} -o jsonpath='{{.status.retention}}'
  kubectl patch syncjob orders -n {ns} --type merge -p '{{"spec":{{"paused":false}}}}'
  kubectl patch syncjob scaled -n {ns} --type merge -p '{{"spec":{{"paused":true}}}}'
  kubectl get deployment orders-debezium -n {ns}      # scaled to 0, 2 saved
  kubectl get events -n {ns}
  curl -s localhost:8080/metrics | grep syncjob_
""")
    if with_pipeline:
        print(f"""  Kafka Connect:  curl -s {env["DEMO_CONNECT"]}/connectors/orders-source/status
  The source:     {env["DEMO_PSQL"]} -c "INSERT INTO orders VALUES (1001, 'new', 1)"
""")
    print("`make env-down` stops the local control plane.\n", flush=True)


if __name__ == "__main__":
    main()
