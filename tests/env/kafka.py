"""A real single-node Kafka broker (KRaft, broker and controller in one) for the tests.

Why this exists: the e2e pipeline runs Debezium through a real Kafka, and the
topic-retention probe reads a real broker's ``retention.ms``.  This module
also holds what both Kafka JVMs (the broker here, the Connect worker in
:mod:`tests.env.connect`) share: their command line and their Log4j set-up.
"""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.env import artifacts, processes

KAFKA_START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0

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


def write_properties(path: Path, props: Mapping[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))


def jvm_argv(
    main: str,
    heap: str,
    state: Path,
    extra_jvm: Sequence[str] = (),
    classpath: Sequence[Path] = (),
) -> list[str]:
    """A JVM running ``main`` from Kafka's distribution, logging as :data:`LOG4J2_PROPERTIES`."""
    return [
        artifacts.java(),
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
        os.pathsep.join(str(p) for p in (artifacts.kafka_home() / "libs" / "*", *classpath)),
        main,
    ]


def _kafka_uuid() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


@dataclass
class KafkaServer:
    """A single-node KRaft Kafka (broker + controller) on ``127.0.0.1:port``."""

    port: int
    controller_port: int
    state_dir: Path
    process: processes.Process

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def logfile(self) -> Path:
        assert self.process.log is not None
        return self.process.log

    def start(self, timeout_s: float = KAFKA_START_TIMEOUT_S) -> None:
        since = self._log_size()  # a restart appends: only what this start logs counts
        self.process.start(
            lambda: self._started_since(since) and processes.port_open(self.port),
            timeout_s=timeout_s,
            what="started",
        )

    def _log_size(self) -> int:
        return self.logfile.stat().st_size if self.logfile.exists() else 0

    def _started_since(self, offset: int) -> bool:
        with self.logfile.open("rb") as f:
            f.seek(offset)
            return b"Kafka Server started" in f.read()

    def restart(self) -> None:
        self.process.stop()
        self.start()

    def stop(self) -> None:
        self.process.stop()


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
    port = port or processes.free_port()
    controller_port = controller_port or processes.free_port()
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
    write_properties(conf, props)
    if not (data / "meta.properties").exists():
        result = subprocess.run(
            [
                *jvm_argv("kafka.tools.StorageTool", "256m", state),
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
    process = processes.Process(
        name="kafka",
        argv=[*jvm_argv("kafka.Kafka", heap, state), str(conf)],
        log=state / "kafka.log",
        cwd=state,
        stop_grace_s=STOP_TIMEOUT_S,
        stop_at_exit=True,
    )
    server = KafkaServer(
        port=port, controller_port=controller_port, state_dir=state, process=process
    )
    server.start(timeout_s)
    return server
