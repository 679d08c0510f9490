"""A real distributed Kafka Connect worker for the tests, and a client for its REST API.

Why this exists: the operator pauses and resumes Debezium connectors through
the real Connect REST API; the worker here has the Debezium PostgreSQL source
and the MongoDB sink on its plugin path.  :class:`ConnectClient` is the tests'
own synchronous client, for setting connectors up and checking on them (the
operator under test uses its own).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.env import artifacts, kafka, processes

DEBEZIUM_POSTGRES_CLASS = "io.debezium.connector.postgresql.PostgresConnector"
MONGO_SINK_CLASS = "com.mongodb.kafka.connect.MongoSinkConnector"
# Kafka's own, on plugin.path by fetch-connect-file.sh: the scale tests' cheap real connector.
FILE_SOURCE_CLASS = "org.apache.kafka.connect.file.FileStreamSourceConnector"

CONNECT_START_TIMEOUT_S = 150.0


class ConnectError(RuntimeError):
    def __init__(self, status: int, body: str, what: str) -> None:
        super().__init__(f"{what}: HTTP {status}: {body[:2000]}")
        self.status = status
        self.body = body


class ConnectClient:
    """Kafka Connect's REST API at ``url``, synchronous.

    ``http_options`` are httpx.Client keywords (auth, verify) for a secured REST API.
    """

    def __init__(self, url: str, http_options: Mapping[str, Any] | None = None) -> None:
        self.url = url
        self.http_options = dict(http_options or {})

    def http(self, timeout: float) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout, **self.http_options)

    def request(
        self, method: str, path: str, json: Any = None, timeout: float = 30.0
    ) -> httpx.Response:
        with self.http(timeout) as c:
            return c.request(method, path, json=json)

    def _json(self, method: str, path: str, json: Any = None, ok: tuple[int, ...] = ()) -> Any:
        r = self.request(method, path, json)
        if r.status_code >= 400 and r.status_code not in ok:
            raise ConnectError(r.status_code, r.text, f"{method} {path}")
        return r.json() if r.content else None

    def put_connector(
        self,
        name: str,
        config: Mapping[str, str],
        *,
        initial_state: str | None = None,
        timeout_s: float = 60.0,
    ) -> Any:
        """Create (POST, honouring ``initial_state``) or update (PUT config) a connector.

        Retries 409 (rebalance in progress) and 5xx within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            exists = self.request("GET", f"/connectors/{name}").status_code == 200
            if exists:
                r = self.request("PUT", f"/connectors/{name}/config", dict(config))
            else:
                body: dict[str, Any] = {"name": name, "config": dict(config)}
                if initial_state:
                    body["initial_state"] = initial_state
                r = self.request("POST", "/connectors", body)
            if r.status_code < 400:
                return r.json()
            if (r.status_code == 409 or r.status_code >= 500) and time.monotonic() < deadline:
                time.sleep(1)
                continue
            raise ConnectError(r.status_code, r.text, f"create/update connector {name}")

    def delete_connector(self, name: str) -> None:
        self._json("DELETE", f"/connectors/{name}", ok=(404,))

    def status(self, name: str) -> Any:
        return self._json("GET", f"/connectors/{name}/status")

    def offsets(self, name: str) -> Any:
        """``GET /connectors/{name}/offsets``: ``{"offsets": [{"partition":..,"offset":..}]}``."""
        return self._json("GET", f"/connectors/{name}/offsets")

    def wait_state(
        self, name: str, state: str, *, tasks: int | None = 1, timeout_s: float = 60.0
    ) -> Any:
        """Wait until the connector and all its tasks (at least ``tasks``) are in ``state``.

        A FAILED connector or task raises at once with its trace.
        """
        deadline = time.monotonic() + timeout_s
        last: Any = None
        while time.monotonic() < deadline:
            r = self.request("GET", f"/connectors/{name}/status")
            if r.status_code == 200:
                last = r.json()
                states = [last["connector"]["state"]] + [t["state"] for t in last["tasks"]]
                if "FAILED" in states and state != "FAILED":
                    raise RuntimeError(f"connector {name} failed: {last}")
                enough = tasks is None or len(last["tasks"]) >= tasks
                if state == "STOPPED":
                    enough = True  # a stopped connector has no tasks
                if enough and all(s == state for s in states):
                    return last
            time.sleep(0.5)
        raise TimeoutError(f"connector {name} not {state} within {timeout_s}s: {last}")


@dataclass
class ConnectWorker(ConnectClient):
    """A distributed Kafka Connect worker with REST on ``url`` (127.0.0.1)."""

    port: int
    bootstrap: str
    state_dir: Path
    group_id: str
    process: processes.Process
    required_plugins: tuple[str, ...] = (DEBEZIUM_POSTGRES_CLASS, MONGO_SINK_CLASS)
    scheme: str = "http"
    # httpx.Client keywords for the REST helpers (auth, verify) when REST is secured.
    rest_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"{self.scheme}://127.0.0.1:{self.port}", self.rest_options)

    @property
    def logfile(self) -> Path:
        assert self.process.log is not None
        return self.process.log

    def start(self, timeout_s: float = CONNECT_START_TIMEOUT_S) -> None:
        self.process.start(
            self._ready, timeout_s=timeout_s, what="answering REST with its plugins listed"
        )

    def _ready(self) -> bool:
        with self.http(3) as c:
            if c.get("/").status_code != 200:
                return False
            plugins = c.get("/connector-plugins", params={"connectorsOnly": "true"})
            if plugins.status_code != 200:
                return False
            have = {p["class"] for p in plugins.json()}
            if not set(self.required_plugins) <= have:
                return False
            # Answers only once the worker has joined its group and read the config topic.
            return c.get("/connectors").status_code == 200

    def restart(self, timeout_s: float = CONNECT_START_TIMEOUT_S) -> None:
        """Graceful stop, then start again with the same config and port."""
        self.process.stop()
        self.start(timeout_s)

    def crash_restart(self, timeout_s: float = CONNECT_START_TIMEOUT_S) -> None:
        """SIGKILL, then start again: the worker leaves no goodbye to its group."""
        self.process.kill()
        self.start(timeout_s)

    def stop(self) -> None:
        self.process.stop()


def start_connect(
    state_dir: Path,
    bootstrap: str,
    *,
    port: int | None = None,
    heap: str = "768m",
    group_id: str = "syncjob-e2e-connect",
    extra_props: Mapping[str, str] | None = None,
    required_plugins: tuple[str, ...] = (DEBEZIUM_POSTGRES_CLASS, MONGO_SINK_CLASS),
    extra_jvm: Sequence[str] = (),
    extra_classpath: Sequence[Path] = (),
    scheme: str = "http",
    http_options: Mapping[str, Any] | None = None,
    timeout_s: float = CONNECT_START_TIMEOUT_S,
) -> ConnectWorker:
    """Start a distributed Connect worker under ``state_dir/connect``; wait for REST + plugins.

    A secured worker (tests/env/secured.py) passes its SSL/SASL properties in
    ``extra_props``, its JAAS file in ``extra_jvm``, the REST extension's jar in
    ``extra_classpath`` (JAAS loads login modules from the class path, not from
    plugin.path's isolated loaders), ``scheme="https"`` and the
    ``http_options`` (credentials, CA) the REST helpers then use.
    """
    state = Path(state_dir).resolve() / "connect"
    state.mkdir(parents=True, exist_ok=True)
    (state / "log4j2.properties").write_text(kafka.LOG4J2_PROPERTIES)
    port = port or processes.free_port()
    props = {
        "bootstrap.servers": bootstrap,
        "group.id": group_id,
        "config.storage.topic": f"{group_id}-configs",
        "offset.storage.topic": f"{group_id}-offsets",
        "status.storage.topic": f"{group_id}-status",
        "config.storage.replication.factor": "1",
        "offset.storage.replication.factor": "1",
        "status.storage.replication.factor": "1",
        "offset.storage.partitions": "1",
        "status.storage.partitions": "1",
        "offset.flush.interval.ms": "1000",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "false",
        "value.converter.schemas.enable": "false",
        "listeners": f"{scheme}://127.0.0.1:{port}",
        "rest.advertised.host.name": "127.0.0.1",
        "rest.advertised.port": str(port),
        "plugin.path": str(artifacts.kafka_home() / "plugins"),
        # The MongoDB sink jar has no ServiceLoader manifest for its connector.
        "plugin.discovery": "hybrid_warn",
        # A restarted worker gets its connectors back at once instead of after
        # the default 5-minute wait for the "lost" member to come back.
        "scheduled.rebalance.max.delay.ms": "0",
        "task.shutdown.graceful.timeout.ms": "5000",
        "connector.client.config.override.policy": "All",
        **(extra_props or {}),
    }
    conf = state / "connect-distributed.properties"
    kafka.write_properties(conf, props)
    process = processes.Process(
        name="connect",
        argv=[
            *kafka.jvm_argv(
                "org.apache.kafka.connect.cli.ConnectDistributed",
                heap,
                state,
                extra_jvm,
                extra_classpath,
            ),
            str(conf),
        ],
        log=state / "connect.log",
        cwd=state,
        stop_grace_s=kafka.STOP_TIMEOUT_S,
        stop_at_exit=True,
    )
    worker = ConnectWorker(
        port=port,
        bootstrap=bootstrap,
        state_dir=state,
        group_id=group_id,
        process=process,
        required_plugins=required_plugins,
        scheme=scheme,
        rest_options=dict(http_options or {}),
    )
    worker.start(timeout_s)
    return worker
