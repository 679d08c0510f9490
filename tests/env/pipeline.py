"""The real change-data pipeline for end-to-end tests: Kafka, Kafka Connect, FerretDB.

Why this exists: the operator pauses and resumes real Debezium connectors
through the real Kafka Connect REST API and reads their real source offsets to
tell Snapshot from CDC (DESIGN.md sections 3 and 5).  Mocks would encode our
own guesses about that API, so the e2e tests run the real thing:

* a Kafka 4.x broker in KRaft mode (one combined broker+controller node),
* a distributed Kafka Connect worker with the Debezium PostgreSQL source and
  the MongoDB sink on its plugin path,
* FerretDB (SQLite backend) as the MongoDB-wire target,

all on free 127.0.0.1 ports, with their files and logs under a state directory
the caller gives.  The jars and the FerretDB binary come from
``tests/env/fetch-pipeline.sh`` (a cache outside the repo); :func:`ensure_fetched`
runs it when the cache is missing.  PostgreSQL comes from
:mod:`tests.env.postgres`.

Every start waits for readiness with a bound and raises with the tail of the
log on failure; every process runs in its own process group, which ``stop()``
kills.  Typical use from a session fixture::

    from tests.env import pipeline, postgres
    pg = postgres.start_postgres(tmp / "pg")
    p = pipeline.Pipeline.start(tmp / "pipeline", postgres=pg)
    p.connect.put_connector("src", p.postgres_source_config(...))
    ...
    p.stop(); pg.stop()
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from tests.env.postgres import PostgresServer

ENV_DIR = Path(__file__).resolve().parent
FETCH_SCRIPT = ENV_DIR / "fetch-pipeline.sh"
VERSIONS_FILE = ENV_DIR / "maven" / "versions.env"

DEBEZIUM_POSTGRES_CLASS = "io.debezium.connector.postgresql.PostgresConnector"
MONGO_SINK_CLASS = "com.mongodb.kafka.connect.MongoSinkConnector"

KAFKA_START_TIMEOUT_S = 90.0
CONNECT_START_TIMEOUT_S = 150.0
FERRETDB_START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
FETCH_TIMEOUT_S = 1800.0

# Log4j 2 configuration for both JVMs: everything to stdout, which goes to the
# component's log file.  Kafka's own per-logger files are not wanted here.
LOG4J2_PROPERTIES = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.kafka-coordinator.name = kafka.coordinator
logger.kafka-coordinator.level = WARN
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
"""


# ---------------------------------------------------------------------------
# cache and versions


def versions() -> dict[str, str]:
    """``tests/env/maven/versions.env`` as a dict (KAFKA_VERSION, DEBEZIUM_VERSION, ...)."""
    out: dict[str, str] = {}
    for raw in VERSIONS_FILE.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def cache_root() -> Path:
    """``$SYNCJOB_CACHE`` or ``~/.cache/syncjob-operator`` (what fetch-pipeline.sh uses)."""
    env = os.environ.get("SYNCJOB_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "syncjob-operator"


def kafka_home() -> Path:
    return cache_root() / f"kafka-{versions()['KAFKA_VERSION']}"


def ferretdb_binary() -> Path:
    return cache_root() / f"ferretdb-{versions()['FERRETDB_VERSION']}" / "bin" / "ferretdb"


def is_fetched() -> bool:
    v = versions()
    stamp = kafka_home() / ".complete"
    want = (
        f"kafka={v['KAFKA_VERSION']} debezium={v['DEBEZIUM_VERSION']} "
        f"mongo-kafka={v['MONGO_KAFKA_VERSION']}"
    )
    return (
        stamp.is_file()
        and stamp.read_text().strip() == want
        and os.access(ferretdb_binary(), os.X_OK)
    )


def ensure_fetched(timeout_s: float = FETCH_TIMEOUT_S) -> Path:
    """Run fetch-pipeline.sh unless the cache is complete; return the cache root."""
    if not is_fetched():
        result = subprocess.run(
            ["bash", str(FETCH_SCRIPT)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if result.returncode != 0 or not is_fetched():
            raise RuntimeError(
                f"fetch-pipeline.sh failed ({result.returncode}):\n"
                + "\n".join(result.stderr.splitlines()[-40:])
            )
    return cache_root()


# ---------------------------------------------------------------------------
# processes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    return str(Path(home) / "bin" / "java") if home else "java"


@dataclass
class ManagedProcess:
    """One server process in its own process group, logging to ``logfile``.

    ``start()`` may be called again after ``stop()``: same command, same ports.
    """

    name: str
    argv: list[str]
    logfile: Path
    cwd: Path
    env: dict[str, str] | None = None
    stop_timeout_s: float = STOP_TIMEOUT_S  # SIGTERM -> SIGKILL grace
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started_in_s: float = 0.0  # wall time of the last start, spawn to ready

    def spawn(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        with self.logfile.open("ab") as log:
            log.write(f"\n==== {time.strftime('%H:%M:%S')} start {self.name}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,
            )
        atexit.register(self.stop)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_until(self, ready: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Poll ``ready`` until true; raise with the log tail if the process dies or times out."""
        deadline = time.monotonic() + timeout_s
        last_exc: Exception | None = None
        while time.monotonic() < deadline:
            if not self.running:
                code = self.process.returncode if self.process else None
                raise RuntimeError(
                    f"{self.name} exited ({code}) before {what}; log {self.logfile}:\n"
                    + tail(self.logfile)
                )
            try:
                if ready():
                    return
            except Exception as exc:  # readiness probes fail in many ways while starting
                last_exc = exc
            time.sleep(0.25)
        self.stop()
        raise TimeoutError(
            f"{self.name}: not {what} within {timeout_s:.0f}s (last probe error: {last_exc});"
            f" log {self.logfile}:\n" + tail(self.logfile)
        )

    def stop(self, timeout_s: float | None = None) -> None:
        """SIGTERM the process group, SIGKILL it if it is still there after ``timeout_s``."""
        timeout_s = self.stop_timeout_s if timeout_s is None else timeout_s
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout_s)
        # Anything left in the group (children) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        self.process = None

    def kill(self) -> None:
        """SIGKILL the process group at once (a crash, not a shutdown)."""
        proc = self.process
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT_S)
        self.process = None

    def rss_bytes(self) -> int:
        """Resident memory of the process (VmRSS), 0 when not running."""
        if not self.running or self.pid is None:
            return 0
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except FileNotFoundError:
            return 0
        return 0


def _write_properties(path: Path, props: Mapping[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))


def _kafka_uuid() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _jvm_argv(
    main: str, heap: str, state: Path, extra_jvm: list[str], classpath: Sequence[Path] = ()
) -> list[str]:
    return [
        java(),
        f"-Xmx{heap}",
        "-Xms64m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={state / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={state}",
        *extra_jvm,
        "-cp",
        os.pathsep.join(str(p) for p in (kafka_home() / "libs" / "*", *classpath)),
        main,
    ]


# ---------------------------------------------------------------------------
# Kafka


@dataclass
class KafkaServer:
    """A single-node KRaft Kafka (broker + controller) on ``127.0.0.1:port``."""

    port: int
    controller_port: int
    state_dir: Path
    proc: ManagedProcess

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def logfile(self) -> Path:
        return self.proc.logfile

    def start(self, timeout_s: float = KAFKA_START_TIMEOUT_S) -> None:
        t0 = time.monotonic()
        started_marker = self._log_size()
        self.proc.spawn()
        self.proc.wait_until(
            lambda: self._started_since(started_marker) and port_open(self.port),
            timeout_s,
            "started",
        )
        self.proc.started_in_s = time.monotonic() - t0

    def _log_size(self) -> int:
        return self.logfile.stat().st_size if self.logfile.exists() else 0

    def _started_since(self, offset: int) -> bool:
        with self.logfile.open("rb") as f:
            f.seek(offset)
            return b"Kafka Server started" in f.read()

    def restart(self) -> None:
        self.proc.stop()
        self.start()

    def stop(self) -> None:
        self.proc.stop()


def start_kafka(
    state_dir: Path,
    *,
    port: int | None = None,
    controller_port: int | None = None,
    heap: str = "512m",
    extra_props: Mapping[str, str] | None = None,
    format_args: Sequence[str] = (),
    timeout_s: float = KAFKA_START_TIMEOUT_S,
) -> KafkaServer:
    """Format (first time only) and start a KRaft broker+controller under ``state_dir/kafka``.

    ``extra_props`` override any broker property (listeners included);
    ``format_args`` go to ``kafka-storage format`` (e.g. ``--add-scram``).
    """
    state = Path(state_dir).resolve() / "kafka"
    data = state / "data"
    state.mkdir(parents=True, exist_ok=True)
    (state / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
    port = port or free_port()
    controller_port = controller_port or free_port()
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        "log.segment.bytes": str(64 * 1024 * 1024),
        **(extra_props or {}),
    }
    conf = state / "server.properties"
    _write_properties(conf, props)
    if not (data / "meta.properties").exists():
        result = subprocess.run(
            [
                *_jvm_argv("kafka.tools.StorageTool", "256m", state, []),
                "format",
                "--config",
                str(conf),
                # One argument: an id may start with "-", which argparse
                # would take for an option.
                f"--cluster-id={_kafka_uuid()}",
                "--ignore-formatted",
                *format_args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"kafka StorageTool format failed ({result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
    proc = ManagedProcess(
        name="kafka",
        argv=[*_jvm_argv("kafka.Kafka", heap, state, []), str(conf)],
        logfile=state / "kafka.log",
        cwd=state,
    )
    server = KafkaServer(port=port, controller_port=controller_port, state_dir=state, proc=proc)
    server.start(timeout_s)
    return server


# ---------------------------------------------------------------------------
# Kafka Connect


class ConnectError(RuntimeError):
    def __init__(self, status: int, body: str, what: str) -> None:
        super().__init__(f"{what}: HTTP {status}: {body[:2000]}")
        self.status = status
        self.body = body


@dataclass
class ConnectWorker:
    """A distributed Kafka Connect worker with REST on ``url`` (127.0.0.1)."""

    port: int
    bootstrap: str
    state_dir: Path
    group_id: str
    proc: ManagedProcess
    required_plugins: tuple[str, ...] = (DEBEZIUM_POSTGRES_CLASS, MONGO_SINK_CLASS)
    scheme: str = "http"
    # httpx.Client keywords for the helpers below (auth, verify) when REST is secured.
    http_options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def http(self, timeout: float) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout, **self.http_options)

    @property
    def logfile(self) -> Path:
        return self.proc.logfile

    def start(self, timeout_s: float = CONNECT_START_TIMEOUT_S) -> None:
        t0 = time.monotonic()
        self.proc.spawn()
        self.proc.wait_until(self._ready, timeout_s, "answering REST with its plugins listed")
        self.proc.started_in_s = time.monotonic() - t0

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
        self.proc.stop()
        self.start(timeout_s)

    def crash_restart(self, timeout_s: float = CONNECT_START_TIMEOUT_S) -> None:
        """SIGKILL, then start again: the worker leaves no goodbye to its group."""
        self.proc.kill()
        self.start(timeout_s)

    def stop(self) -> None:
        self.proc.stop()

    # --- REST helpers (sync; tests of the operator use their own client) ---

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
    (state / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
    port = port or free_port()
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
        "plugin.path": str(kafka_home() / "plugins"),
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
    _write_properties(conf, props)
    proc = ManagedProcess(
        name="connect",
        argv=[
            *_jvm_argv(
                "org.apache.kafka.connect.cli.ConnectDistributed",
                heap,
                state,
                list(extra_jvm),
                extra_classpath,
            ),
            str(conf),
        ],
        logfile=state / "connect.log",
        cwd=state,
    )
    worker = ConnectWorker(
        port=port,
        bootstrap=bootstrap,
        state_dir=state,
        group_id=group_id,
        proc=proc,
        required_plugins=required_plugins,
        scheme=scheme,
        http_options=dict(http_options or {}),
    )
    worker.start(timeout_s)
    return worker


# ---------------------------------------------------------------------------
# FerretDB


@dataclass
class FerretDB:
    """FerretDB (SQLite backend) speaking the MongoDB wire protocol on 127.0.0.1:port."""

    port: int
    debug_port: int
    state_dir: Path
    proc: ManagedProcess

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    @property
    def logfile(self) -> Path:
        return self.proc.logfile

    def start(self, timeout_s: float = FERRETDB_START_TIMEOUT_S) -> None:
        t0 = time.monotonic()
        self.proc.spawn()
        self.proc.wait_until(self._ready, timeout_s, "ready (/debug/readyz)")
        self.proc.started_in_s = time.monotonic() - t0

    def _ready(self) -> bool:
        r = httpx.get(f"http://127.0.0.1:{self.debug_port}/debug/readyz", timeout=3)
        return r.status_code == 200 and port_open(self.port)

    def restart(self) -> None:
        self.proc.stop()
        self.start()

    def stop(self) -> None:
        self.proc.stop()


def start_ferretdb(
    state_dir: Path,
    *,
    port: int | None = None,
    sqlite_pragmas: tuple[str, ...] = ("synchronous(off)",),
    timeout_s: float = FERRETDB_START_TIMEOUT_S,
) -> FerretDB:
    """Start FerretDB with the SQLite backend under ``state_dir/ferretdb``.

    ``synchronous(off)``: a throwaway test target, and without it every
    upsert waits for an fsync (FerretDB adds ``journal_mode(wal)`` itself).
    """
    state = Path(state_dir).resolve() / "ferretdb"
    data = state / "data"
    data.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    debug_port = free_port()
    query = "?" + "&".join(f"_pragma={p}" for p in sqlite_pragmas) if sqlite_pragmas else ""
    proc = ManagedProcess(
        name="ferretdb",
        argv=[
            str(ferretdb_binary()),
            "--handler=sqlite",
            f"--sqlite-url=file:{data}/{query}",
            f"--listen-addr=127.0.0.1:{port}",
            f"--debug-addr=127.0.0.1:{debug_port}",
            f"--state-dir={state}",
            "--telemetry=disable",
            "--log-level=info",
            "--log-format=text",
        ],
        logfile=state / "ferretdb.log",
        cwd=state,
        stop_timeout_s=5.0,  # it waits for clients to hang up; nothing to flush here
    )
    server = FerretDB(port=port, debug_port=debug_port, state_dir=state, proc=proc)
    server.start(timeout_s)
    return server


# ---------------------------------------------------------------------------
# the whole pipeline

# Debezium's ExtractNewRecordState acts on Struct values only: with schemaless
# JSON (the worker default here) the sink would get the raw envelope and never
# see a delete.  So the Debezium topics carry JSON with schemas.
JSON_WITH_SCHEMAS = {
    "key.converter": "org.apache.kafka.connect.json.JsonConverter",
    "key.converter.schemas.enable": "true",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter.schemas.enable": "true",
}


def slow_snapshot_overrides(table: str, *, sleep_per_row_s: float = 0.005) -> dict[str, str]:
    """Source overrides that make the initial snapshot of ``table`` take rows x sleep seconds.

    The snapshot SELECT calls ``pg_sleep`` for every row, and a small fetch size
    makes the rows (and so committed offsets with ``snapshot_completed=false``)
    flow while it runs.  Deterministic, unlike "a big table", whose snapshot
    time depends on the machine.
    """
    return {
        "snapshot.fetch.size": "20",
        "max.batch.size": "50",
        "snapshot.select.statement.overrides": table,
        f"snapshot.select.statement.overrides.{table}": (
            f"SELECT * FROM {table} WHERE pg_sleep({sleep_per_row_s:g})::text = ''"
        ),
    }


@dataclass
class Pipeline:
    """Kafka + Connect + FerretDB (+ the caller's PostgreSQL), with connector config helpers."""

    state_dir: Path
    kafka: KafkaServer
    connect: ConnectWorker
    ferretdb: FerretDB
    postgres: PostgresServer | None = None

    @classmethod
    def start(
        cls,
        state_dir: Path,
        *,
        postgres: PostgresServer | None = None,
        fetch: bool = True,
        connect_props: Mapping[str, str] | None = None,
    ) -> Pipeline:
        """Start FerretDB, Kafka, then Connect (stopping what started if a later step fails)."""
        if fetch:
            ensure_fetched()
        state = Path(state_dir).resolve()
        started: list[Any] = []
        try:
            ferret = start_ferretdb(state)
            started.append(ferret)
            kafka = start_kafka(state)
            started.append(kafka)
            connect = start_connect(state, kafka.bootstrap, extra_props=connect_props)
            started.append(connect)
        except BaseException:
            for s in reversed(started):
                s.stop()
            raise
        return cls(state, kafka, connect, ferret, postgres)

    def stop(self) -> None:
        """Connect first (it commits offsets on the way down), then Kafka, then FerretDB."""
        for part in (self.connect, self.kafka, self.ferretdb):
            part.stop()

    def start_times(self) -> dict[str, float]:
        return {
            "ferretdb": self.ferretdb.proc.started_in_s,
            "kafka": self.kafka.proc.started_in_s,
            "connect": self.connect.proc.started_in_s,
        }

    def rss_bytes(self) -> dict[str, int]:
        return {
            "ferretdb": self.ferretdb.proc.rss_bytes(),
            "kafka": self.kafka.proc.rss_bytes(),
            "connect": self.connect.proc.rss_bytes(),
        }

    def postgres_source_config(
        self,
        *,
        topic_prefix: str,
        tables: list[str],
        slot_name: str,
        publication_name: str | None = None,
        dbname: str | None = None,
        postgres: PostgresServer | None = None,
        **overrides: str,
    ) -> dict[str, str]:
        """Debezium PostgreSQL source (pgoutput, filtered publication, 1 s heartbeats).

        ``tables`` are ``schema.table`` names; ``overrides`` use Debezium's
        property names with ``_`` for ``.`` (``snapshot_fetch_size="100"``) or
        pass a dict through ``**{"snapshot.fetch.size": "100"}``.
        """
        pg = postgres or self.postgres
        if pg is None:
            raise ValueError("no PostgreSQL server: pass postgres= here or to Pipeline.start")
        config = {
            "connector.class": DEBEZIUM_POSTGRES_CLASS,
            "tasks.max": "1",
            "database.hostname": pg.host,
            "database.port": str(pg.port),
            "database.user": pg.user,
            "database.password": pg.password,
            "database.dbname": dbname or pg.dbname,
            "topic.prefix": topic_prefix,
            "plugin.name": "pgoutput",
            "slot.name": slot_name,
            "publication.name": publication_name or f"{slot_name}_pub",
            "publication.autocreate.mode": "filtered",
            "table.include.list": ",".join(tables),
            "heartbeat.interval.ms": "1000",
            "snapshot.mode": "initial",
            "tombstones.on.delete": "true",
            "decimal.handling.mode": "string",
            "time.precision.mode": "connect",
            **JSON_WITH_SCHEMAS,
        }
        config.update({k.replace("_", ".") if "." not in k else k: v for k, v in overrides.items()})
        return config

    def mongo_sink_config(
        self,
        *,
        topics: list[str],
        database: str,
        collection: str | None = None,
        key_field: str | None = "id",
        **overrides: str,
    ) -> dict[str, str]:
        """MongoDB sink that mirrors a Debezium source exactly, deletes included.

        Debezium's ExtractNewRecordState turns each change event into the row
        after the change and each delete into a tombstone (null value); the
        sink replaces the document with the record key's ``_id`` and deletes it
        on a tombstone.  With ``key_field`` (a one-column primary key) the key
        field is renamed to ``_id`` so that ``_id`` is the scalar key value:
        FerretDB looks up scalar ``_id`` values by index, but scans the whole
        collection for a document ``_id`` (~40 writes/s at 1500 rows).  With
        ``key_field=None`` the whole key document is the ``_id``
        (``{"id": 7}``), which suits composite keys.
        """
        strategy = "com.mongodb.kafka.connect.sink.processor.id.strategy."
        config = {
            "connector.class": MONGO_SINK_CLASS,
            "tasks.max": "1",
            "topics": ",".join(topics),
            "connection.uri": self.ferretdb.uri,
            "database": database,
            "transforms": "unwrap",
            "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
            "transforms.unwrap.drop.tombstones": "false",
            "transforms.unwrap.delete.tombstone.handling.mode": "tombstone",
            "document.id.strategy": strategy + "FullKeyStrategy",
            "document.id.strategy.overwrite.existing": "true",
            "writemodel.strategy": (
                "com.mongodb.kafka.connect.sink.writemodel.strategy.ReplaceOneDefaultStrategy"
            ),
            "delete.on.null.values": "true",
            # FerretDB 1.24 deadlocks on an `update` command with >= 100 updates
            # of existing documents (README-pipeline.md): keep bulk writes small.
            "max.batch.size": "50",
            "errors.tolerance": "none",
            "errors.log.enable": "true",
            "errors.log.include.messages": "true",
            **JSON_WITH_SCHEMAS,
        }
        if key_field:
            config.update(
                {
                    "transforms": "unwrap,keyid",
                    "transforms.keyid.type": "org.apache.kafka.connect.transforms.ReplaceField$Key",
                    "transforms.keyid.renames": f"{key_field}:_id",
                    "document.id.strategy": strategy + "ProvidedInKeyStrategy",
                }
            )
        if collection:
            config["collection"] = collection
        config.update({k.replace("_", ".") if "." not in k else k: v for k, v in overrides.items()})
        return config


@contextlib.contextmanager
def running_pipeline(
    state_dir: Path, *, postgres: PostgresServer | None = None
) -> Iterator[Pipeline]:
    """``with running_pipeline(dir, postgres=pg) as p: ...``: started, then always stopped."""
    p = Pipeline.start(state_dir, postgres=postgres)
    try:
        yield p
    finally:
        p.stop()
