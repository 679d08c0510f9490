"""Files of the repository the tests read: the CRD, the chart, deploy/."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "syncjob.dev_syncjobs.yaml"
