"""Loaded by Python at start-up when this folder is on PYTHONPATH (the memory bench puts it there).

With ``SYNCJOB_MEMORY_SNAPSHOTS`` set to a folder, it traces allocations
(``SYNCJOB_MEMORY_FRAMES`` frames each) from the interpreter's start, and each
SIGUSR2 writes to that folder a tracemalloc snapshot, a count of the live
objects by type, and the process's RSS before and after glibc's
``malloc_trim`` (how much of it is freed heap the allocator kept), then a
``.done`` file: the bench sends the signal and waits for that.  Nothing
here is part of the operator; without the variable it does nothing.
"""

from __future__ import annotations

import os
import signal
from types import FrameType

_FOLDER = os.environ.get("SYNCJOB_MEMORY_SNAPSHOTS")


def _dump(_signum: int, _frame: FrameType | None) -> None:
    import collections
    import ctypes
    import gc
    import json
    import tracemalloc

    assert _FOLDER
    index = sum(1 for n in os.listdir(_FOLDER) if n.endswith(".done"))
    gc.collect()
    tracemalloc.take_snapshot().dump(os.path.join(_FOLDER, f"snap-{index}.tracemalloc"))
    types = collections.Counter(
        f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects()
    )
    with open(os.path.join(_FOLDER, f"snap-{index}.types.json"), "w") as out:
        json.dump(dict(types), out)
    before = _rss_kib()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open(os.path.join(_FOLDER, f"snap-{index}.trim.json"), "w") as out:
        json.dump({"before_kib": before, "after_kib": _rss_kib()}, out)
    with open(os.path.join(_FOLDER, f"snap-{index}.done"), "w"):
        pass


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _watch_peak() -> None:
    """Keep a snapshot of the highest traced memory seen (``peak.tracemalloc``).

    Sampled every 0.2 s; a new snapshot only when 5 % above the last one kept,
    so a start-up's peak is caught within a sample of it.
    """
    import time
    import tracemalloc

    assert _FOLDER
    kept = 0
    while True:
        time.sleep(0.2)
        current, _ = tracemalloc.get_traced_memory()
        if current > kept * 1.05 and current > 32 * 2**20:
            tracemalloc.take_snapshot().dump(os.path.join(_FOLDER, "peak.tracemalloc"))
            kept = current
            with open(os.path.join(_FOLDER, "peak.json"), "w") as out:
                out.write(f'{{"traced_kib": {current // 1024}, "rss_kib": {_rss_kib()}}}')


if _FOLDER:
    import threading
    import tracemalloc

    tracemalloc.start(int(os.environ.get("SYNCJOB_MEMORY_FRAMES", "1")))
    signal.signal(signal.SIGUSR2, _dump)
    if os.environ.get("SYNCJOB_MEMORY_PEAK"):
        threading.Thread(target=_watch_peak, name="memory peak", daemon=True).start()
