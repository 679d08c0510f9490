"""Where the pipeline's jars and binaries are, and fetching them when they are not.

Why this exists: Kafka, Kafka Connect with the Debezium and MongoDB plugins,
and FerretDB come from ``tests/env/fetch-pipeline.sh``, which fills a cache
outside the repository (``$SYNCJOB_CACHE`` or ``~/.cache/syncjob-operator``)
at the versions in ``tests/env/maven/versions.env``.  Every module that starts
one of them finds it here; :func:`ensure_fetched` runs the script when the
cache is missing or stale.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ENV_DIR = Path(__file__).resolve().parent
FETCH_SCRIPT = ENV_DIR / "fetch-pipeline.sh"
VERSIONS_FILE = ENV_DIR / "maven" / "versions.env"
FETCH_TIMEOUT_S = 1800.0


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


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    return str(Path(home) / "bin" / "java") if home else "java"


def is_fetched() -> bool:
    v = versions()
    stamp = kafka_home() / ".complete"
    want = (
        f"kafka={v['KAFKA_VERSION']} debezium={v['DEBEZIUM_VERSION']} "
        f"mongo-kafka={v['MONGO_KAFKA_VERSION']}"
    )
    # The MariaDB plugin is a part of its own (fetch-debezium-mariadb.sh).
    mariadb_stamp = kafka_home() / "plugins" / "debezium-connector-mariadb" / ".complete"
    mariadb_want = f"debezium-connector-mariadb={v['DEBEZIUM_MARIADB_VERSION']}"
    # So are Kafka's FileStream connectors (fetch-connect-file.sh).
    file_stamp = kafka_home() / "plugins" / "connect-file" / ".complete"
    file_want = f"connect-file={v['KAFKA_VERSION']}"
    return (
        stamp.is_file()
        and stamp.read_text().strip() == want
        and mariadb_stamp.is_file()
        and mariadb_stamp.read_text().strip() == mariadb_want
        and file_stamp.is_file()
        and file_stamp.read_text().strip() == file_want
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
