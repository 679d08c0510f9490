"""Hand the memory the process has freed back to the operating system, now and then.

Why: CPython takes every object over 512 bytes (the JSON text of each API
answer and watch event, big dicts) from the C allocator.  glibc keeps what
is freed for reuse, and gives back to the system only the free top of its
heap; in a heap where long-lived objects (a thousand jobs' state) sit
between freed chunks, that top is rarely free, so a burst (start-up, a
storm of pauses) leaves RSS high for good.  That RSS is what a container's
memory limit counts.  The memory bench measured it: 300 scale-backend jobs
just started, RSS 289 MiB, of which ``malloc_trim(0)`` gave back 97 MiB.

So every ``SYNCJOB_HEAP_TRIM_INTERVAL`` seconds (10) the operator calls
glibc's ``malloc_trim(0)``, which returns the free pages anywhere in the
heap.  It touches no live object and changes nothing the operator does; it
costs ~2 ms when there is little to give back, ~30 ms when it gives back
~400 MiB (measured on the test machine), so every 10 s is ~0.03 % of a core,
and a start-up or a storm leaves its RSS behind for seconds, not minutes
(1,000 jobs: 352 MiB at the start-up's peak, 182 MiB idle after).
Where the C library is not glibc (musl has no ``malloc_trim``) it is
skipped, and said so once.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


def trimmer() -> Callable[[], bool] | None:
    """glibc's ``malloc_trim(0)`` (True when it gave memory back), or None without glibc."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: bool(trim(0))


async def trim_every(interval: float, trim: Callable[[], bool] | None = None) -> None:
    """Trim the heap every ``interval`` seconds until cancelled (0: never)."""
    if interval <= 0:
        return
    trim = trim or trimmer()
    if trim is None:
        logger.info("no malloc_trim in this C library: freed memory is not handed back")
        return
    while True:
        await asyncio.sleep(interval)
        started = time.perf_counter()
        released = trim()
        logger.debug(
            "heap trimmed in %.1f ms (%s)",
            (time.perf_counter() - started) * 1000,
            "memory given back" if released else "nothing to give back",
        )
