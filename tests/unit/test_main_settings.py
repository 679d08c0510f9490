"""The operator refuses bad settings with one clear line, before it starts anything."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SYNCJOB_RESYNC_INTERVAL": "soon"}, "SYNCJOB_RESYNC_INTERVAL"),
        ({"SYNCJOB_LOG_FORMAT": "xml"}, "SYNCJOB_LOG_FORMAT"),
        ({"SYNCJOB_METRICS_PORT": "eighty"}, "SYNCJOB_METRICS_PORT"),
    ],
)
def test_bad_setting_is_one_line_and_exit_2(env: dict[str, str], named: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "syncjob_operator"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr
