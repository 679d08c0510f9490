"""Watching one SyncJob's catch-up after a resume, as the e2e tests measure it.

Why this exists: the catch-up e2e tests (PostgreSQL and MariaDB) resume a job
with a backlog and then need the same figures: every status the operator
wrote (from a watch, so none is missed between two polls), the lag metric
over time, how long the catch-up took, how far the written estimates were
from the real time left, and the status writes per minute.  Written once
here; each test asserts what its pipeline shows.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import yaml

from syncjob_operator import units
from tests.helpers.kube import Kube
from tests.helpers.status import condition


def lag_metric(metrics_url: str, namespace: str, name: str) -> float | None:
    """``syncjob_lag_seconds`` of the job, None while the operator has no such series."""
    text = httpx.get(metrics_url, timeout=5).text
    labels = f'name="{name}",namespace="{namespace}"'
    for line in text.splitlines():
        if line.startswith("syncjob_lag_seconds{") and labels in line:
            return float(line.rsplit(" ", 1)[1])
    return None


@dataclass
class Writes:
    """Every version of one SyncJob written while the watch ran, with when it was seen."""

    kube: Kube
    namespace: str
    name: str
    versions: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    error: Exception | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Writes:
        config = yaml.safe_load(self.kube.kubeconfig.read_text())
        server = config["clusters"][0]["cluster"]["server"]
        token = config["users"][0]["user"]["token"]
        http = httpx.Client(
            base_url=server, verify=False, headers={"Authorization": f"Bearer {token}"}
        )
        base = f"/apis/syncjob.dev/v1alpha1/namespaces/{self.namespace}/syncjobs"
        rv = http.get(f"{base}/{self.name}", timeout=30).json()["metadata"]["resourceVersion"]
        url = (
            f"{base}?watch=1&fieldSelector=metadata.name%3D{self.name}"
            f"&resourceVersion={rv}&timeoutSeconds=1800"
        )

        def run() -> None:
            try:
                with http.stream("GET", url, timeout=None) as response:
                    response.raise_for_status()
                    for line in response.iter_lines():
                        if self._stop.is_set():
                            return
                        if line:
                            event = json.loads(line)
                            if event.get("type") == "MODIFIED":
                                self.versions.append((time.monotonic(), event["object"]))
            except Exception as exc:  # the test's wait reports it
                self.error = exc
            finally:
                http.close()

        self._thread = threading.Thread(target=run, daemon=True, name=f"watch-{self.name}")
        self._thread.start()
        return self

    def stop(self) -> None:
        # The thread ends at the next event or at the watch's own timeout;
        # it is a daemon, so a quiet job does not hold the test.
        self._stop.set()

    def cdc_values(self, since: float = 0.0) -> list[dict[str, Any]]:
        """The distinct ``status.cdc`` values written since ``since`` (monotonic), in order."""
        seen: list[dict[str, Any]] = []
        for at, obj in self.versions:
            cdc = (obj.get("status") or {}).get("cdc") or {}
            if at >= since and cdc and (not seen or seen[-1] != cdc):
                seen.append(cdc)
        return seen

    def count(self, since: float, until: float) -> int:
        return sum(1 for at, _ in self.versions if since <= at <= until)


@dataclass(frozen=True)
class CatchUp:
    """One catch-up as observed: the statuses written, the lag metric, the real time."""

    resumed_at: float  # monotonic
    took_s: float  # from the resume patch to CaughtUp=True seen
    seen: list[dict[str, Any]]  # status.cdc values written during it
    lags: list[float]
    final: dict[str, Any]  # the status at the end
    writes: int  # object versions written during it

    @property
    def done(self) -> datetime:
        c = condition({"status": self.final}, "CaughtUp")
        assert c is not None
        t = units.parse_time(c["lastTransitionTime"])
        assert t is not None
        return t

    def estimate_errors(self) -> list[tuple[int, float, float]]:
        """(estimate, real seconds left then, relative error) for every estimate written."""
        out = []
        for s in self.seen:
            guess = s.get("estimatedCatchUpSeconds")
            made = units.parse_time(s.get("measuredAt"))
            if guess is None or made is None or not s.get("catchingUpSince"):
                continue
            real = (self.done - made).total_seconds()
            out.append((int(guess), real, abs(guess - real) / max(real, 1.0)))
        return out

    def report(self, label: str) -> str:
        errors = self.estimate_errors()
        minutes = max(self.took_s / 60, 1 / 60)
        lines = [
            f"[{label}] caught up {self.took_s:.0f}s after the resume; {self.writes} status "
            f"writes = {self.writes / minutes:.1f}/min; {len(self.seen)} status.cdc values; "
            f"final backlog {self.final.get('cdc', {}).get('backlogBytes')} B"
        ]
        if errors:
            guess, real, err = errors[0]
            median = statistics.median(e for *_, e in errors)
            pairs = ", ".join(f"({g}, {r:.0f})" for g, r, _ in errors)
            lines.append(
                f"[{label}] first estimate {guess}s against {real:.0f}s real: error {err:.0%}; "
                f"over {len(errors)} estimates: median error {median:.0%}, "
                f"max {max(e for *_, e in errors):.0%}; (estimate, real): {pairs}"
            )
        else:
            lines.append(f"[{label}] no estimate written (caught up within a probe or two)")
        return "\n".join(lines)


def watch_catch_up(
    kube: Kube,
    writes: Writes,
    *,
    metrics_url: str,
    resumed_at: float,
    timeout: float = 900,
) -> CatchUp:
    """Poll until CaughtUp is True again after the resume at ``resumed_at``; bounded."""
    namespace, name = writes.namespace, writes.name
    lags: list[float] = []
    deadline = time.monotonic() + timeout
    final: dict[str, Any] = {}
    while time.monotonic() < deadline:
        if writes.error is not None:
            raise AssertionError(f"the watch of {name} failed: {writes.error!r}")
        obj = kube.get("syncjob", name, namespace) or {}
        final = obj.get("status") or {}
        if (lag := lag_metric(metrics_url, namespace, name)) is not None:
            lags.append(lag)
        c = condition(obj, "CaughtUp")
        seen = writes.cdc_values(since=resumed_at)
        began = any(s.get("catchingUpSince") for s in seen)
        if began and c is not None and c["status"] == "True":
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"not caught up within {timeout}s: {writes.cdc_values(resumed_at)}")
    now = time.monotonic()
    time.sleep(1)  # the last versions' watch events
    return CatchUp(
        resumed_at=resumed_at,
        took_s=now - resumed_at,
        seen=writes.cdc_values(since=resumed_at),
        lags=lags,
        final=final,
        writes=writes.count(resumed_at, now),
    )
