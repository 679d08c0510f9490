"""The test PostgreSQL keeps working when the directory it was started from turns private.

Every pytest session makes ``/tmp/pytest-of-<user>`` private again (mode
0700), and the sessions of a shared machine start while others run.  The
postmaster runs as the ``postgres`` user and opens its configuration and
control files by absolute path, so a cluster under a pytest directory would
lose them at the next reload or checkpoint.  Here the caller's directory
turns private under a running server, as it does then.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.env import postgres

pytestmark = pytest.mark.integration


def test_reload_restart_and_stop_after_the_workdir_turned_private(tmp_path: Path) -> None:
    workdir = tmp_path / "private"
    server = postgres.start_postgres(workdir / "pg")
    try:
        for d in (workdir, tmp_path):
            d.chmod(0o700)  # what the next pytest session does to its root
        assert server.reload({"max_slot_wal_keep_size": "24MB"}) == []
        server.restart()
        with server.connect() as conn:
            row = conn.execute("SHOW max_slot_wal_keep_size").fetchone()
        assert row is not None and row[0] == "24MB"
    finally:
        server.stop()
    assert "PANIC" not in server.logfile.read_text(errors="replace")
