"""Waiting for real behaviour: poll until something holds, with a bound, saying what was seen.

Why this exists: every test against a real server waits for it (a phase, a
document count, a connector state); one poll loop, so every wait is bounded
and a timeout names what it waited for and the last thing it saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    what: str,
    predicate: Callable[[], T],
    *,
    timeout: float = 60,
    interval: float = 0.2,
    detail: Callable[[], str] | None = None,
) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that.

    After ``timeout`` seconds fail with ``what``, the last value and, if
    given, ``detail()`` (a log's tail, say).
    """
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    message = f"timed out after {timeout}s waiting for {what} (last: {last!r})"
    raise AssertionError(message + (f"\n{detail()}" if detail else ""))
