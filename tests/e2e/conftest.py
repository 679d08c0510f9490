"""Session fixtures for the end-to-end tests: one real PostgreSQL and one real pipeline.

Why this exists: starting Kafka, Connect and FerretDB takes ~12 s and ~1 GB,
so every e2e test shares one set (session scope) and isolates itself with its
own table, topic prefix, slot and connector names.  Logs stay under the
pytest temporary directory (printed at the end of the session).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.env import pipeline
from tests.env.postgres import PostgresServer, start_postgres


@pytest.fixture(scope="session")
def e2e_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def e2e_postgres(e2e_state_dir: Path) -> Iterator[PostgresServer]:
    server = start_postgres(e2e_state_dir / "postgres")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def e2e_pipeline(e2e_state_dir: Path, e2e_postgres: PostgresServer) -> Iterator[pipeline.Pipeline]:
    p = pipeline.Pipeline.start(e2e_state_dir / "pipeline", postgres=e2e_postgres)
    yield p
    p.stop()
    print(f"\n[e2e] pipeline logs under {p.state_dir}")
