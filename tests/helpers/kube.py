"""A test cluster as the tests drive it: kubectl against its kubeconfig, and SyncJob patches.

Why this exists: every cluster test applies, reads, patches and waits through
real kubectl (the very client the README tells users to run), so the
commands and their error reporting are written once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import polling

VENV_BIN = Path(sys.executable).parent
KUBECTL = str(VENV_BIN / "kubectl") if (VENV_BIN / "kubectl").exists() else "kubectl"


@dataclass
class Kube:
    """A test cluster: its kubeconfig, and kubectl run against it."""

    kubeconfig: Path
    env: dict[str, str] = field(default_factory=dict)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [KUBECTL, *args],
            input=input,
            capture_output=True,
            text=True,
            env={**os.environ, **self.env, "KUBECONFIG": str(self.kubeconfig)},
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result

    def apply(self, manifest: dict[str, Any] | str, *, namespace: str | None = None) -> None:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        ns = ["-n", namespace] if namespace else []
        self.kubectl("apply", *ns, "-f", "-", input=text)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        ns = ["-n", namespace] if namespace else []
        result = self.kubectl("get", kind, name, *ns, "-o", "json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr:
                return None
            raise AssertionError(result.stderr)
        return dict(json.loads(result.stdout))

    def wait_for(
        self,
        what: str,
        predicate: Callable[[], Any],
        *,
        timeout: float = 60,
        interval: float = 0.2,
    ) -> Any:
        """Poll until ``predicate`` returns something truthy; fail with ``what`` after the bound."""
        return polling.wait_for(what, predicate, timeout=timeout, interval=interval)

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        out = self.kubectl(
            "get",
            "events",
            "-n",
            namespace,
            "-o",
            "json",
            "--field-selector",
            f"involvedObject.name={name}",
        )
        return list(json.loads(out.stdout)["items"])


def patch_spec(kube: Kube, namespace: str, name: str, **fields: Any) -> dict[str, Any]:
    """A merge patch of a SyncJob's spec; returns the object exactly as the API server stored it."""
    out = kube.kubectl(
        "patch",
        "syncjob",
        name,
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        json.dumps({"spec": fields}),
        "-o",
        "json",
    )
    return dict(json.loads(out.stdout))


def patch_paused(kube: Kube, namespace: str, name: str, paused: bool) -> dict[str, Any]:
    """The README's merge patch of ``spec.paused``; the object as stored."""
    return patch_spec(kube, namespace, name, paused=paused)
