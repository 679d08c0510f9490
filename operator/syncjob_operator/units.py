"""Durations, byte counts, PostgreSQL LSNs and timestamps, read and written in one place.

Why this exists: the API (spec durations), the decisions (deadlines and their
messages), the CLI (time left, ``--timeout``) and the metrics all read or write
these, and must agree on what "72h" or "2026-11-24T12:00:00Z" means.  This is
the bottom layer: it imports nothing of the package, so anything may import it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# --- durations ------------------------------------------------------------------

# Go's time.ParseDuration units (what metav1.Duration and CEL's duration() accept).
_UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # Go accepts the micro sign too
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> timedelta:
    """Parse a Go duration ("72h", "1h30m", "500ms", "10s"), surrounding space allowed.

    Negative durations, bare numbers and units Go does not have (days, weeks)
    are refused with a ValueError that starts "invalid duration".
    """
    s = text.strip()
    pos = 0
    seconds = 0.0
    for match in _DURATION_PART.finditer(s):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not s or pos != len(s):
        raise ValueError(
            f"invalid duration {text!r}: expected numbers with Go units, e.g. 72h, 30m, 1h30m, "
            "10s or 500ms"
        )
    return timedelta(seconds=seconds)


def format_go_duration(delta: timedelta) -> str:
    """The shortest Go-syntax text for ``delta`` in h, m, s and ms: "72h", "1h30m", "2s500ms".

    What a spec duration is written back as (its wire form): ``parse_duration``
    reads it back to the same value, and what users usually write ("6h",
    "30m", "10s") comes out as written.
    """
    if delta < timedelta(0):
        raise ValueError(f"a Go duration in a spec is never negative: {delta}")
    micros = delta // timedelta(microseconds=1)
    hours, micros = divmod(micros, 3_600_000_000)
    minutes, micros = divmod(micros, 60_000_000)
    secs, micros = divmod(micros, 1_000_000)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    parts.append(f"{secs}s" if secs else "")
    if micros:
        millis = f"{micros / 1000:f}".rstrip("0").rstrip(".")
        parts.append(f"{millis}ms")
    return "".join(parts) or "0s"


def format_duration(delta: timedelta) -> str:
    """A short human form, "2d3h", "3h12m", "45m", "30s"; negative as "-5m".

    Lossy on purpose (two units at most, rounded down): for messages and
    tables, never for the wire (that is :func:`format_go_duration`).
    """
    total = int(delta.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d{hours}h" if hours else f"{sign}{days}d"
    if hours:
        return f"{sign}{hours}h{minutes}m" if minutes else f"{sign}{hours}h"
    if minutes:
        return f"{sign}{minutes}m"
    return f"{sign}{secs}s"


# --- bytes and LSNs -------------------------------------------------------------


def format_bytes(n: float) -> str:
    """Binary units, one decimal: "512 B", "1.5 MiB"."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")


def parse_lsn(text: str) -> int:
    """A PostgreSQL LSN ("16/B374D848") as a byte position."""
    match = _LSN.match(text.strip())
    if not match:
        raise ValueError(f"invalid LSN {text!r}: expected two hex numbers like 16/B374D848")
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def format_lsn(position: int) -> str:
    """A byte position as PostgreSQL writes an LSN ("16/B374D848"): :func:`parse_lsn` reversed."""
    if not 0 <= position < 1 << 64:
        raise ValueError(f"not an LSN: {position}")
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


# --- timestamps -----------------------------------------------------------------


def rfc3339(moment: datetime, *, fraction: bool = False) -> str:
    """RFC 3339 in UTC, second precision: what Kubernetes timestamps look like.

    ``fraction`` adds the microseconds, for a moment a rate is measured from
    (a second's truncation is a large error over a few seconds).  A naive
    ``moment`` is taken to be UTC.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    layout = "%Y-%m-%dT%H:%M:%S.%fZ" if fraction else "%Y-%m-%dT%H:%M:%SZ"
    return moment.astimezone(UTC).strftime(layout)


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime; None when absent.

    A timestamp without an offset is taken to be UTC (Kubernetes writes UTC).
    Raises ValueError on text that is no timestamp.
    """
    if not text:
        return None
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
