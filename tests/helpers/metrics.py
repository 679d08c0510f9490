"""Reading the operator's Prometheus metrics as a scraper does: over HTTP, parsed.

Why this exists: the operations tests and the retention tests both scrape the
real operator's prometheus_client server and pick one job's series.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def scrape(url: str) -> list[Sample]:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    return [
        Sample(s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def scrape_when_up(url: str) -> list[Sample]:
    """``scrape`` for polling: nothing yet while the operator is still starting its server."""
    try:
        return scrape(url)
    except urllib.error.URLError:
        return []


def of_job(samples: list[Sample], metric: str, namespace: str, name: str) -> list[Sample]:
    return [
        s
        for s in samples
        if s.name == metric
        and s.labels.get("namespace") == namespace
        and s.labels.get("name") == name
    ]
