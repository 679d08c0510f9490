"""The heap trimmer: glibc's malloc_trim really gives freed memory back, and the task paces it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from syncjob_operator import heap

# Run in a fresh interpreter: a long test process's heap already holds free
# space of its own, which a burst reuses and a trim gives back, so RSS there
# says little about what one burst left.
BURST = """
import json
from pathlib import Path

from syncjob_operator import heap


def rss_kib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


trim = heap.trimmer()
trim()
# A burst: 200 MiB of 64 KiB blocks (the C allocator's heap, below its mmap
# threshold), each followed by a small one that stays, so the heap's top
# never frees; as the JSON texts of a storm's answers leave it.
size = 64 * 1024
burst, kept = [], []
for _ in range(3_200):
    burst.append(b"x" * size)
    kept.append(bytearray(600))
del burst
before = rss_kib()
released = trim()
print(json.dumps({"before": before, "after": rss_kib(), "released": released, "kept": len(kept)}))
"""


def test_trimming_gives_back_what_a_burst_left_in_a_fragmented_heap() -> None:
    assert heap.trimmer() is not None, "this machine's C library is glibc"
    out = subprocess.run(
        [sys.executable, "-c", BURST], check=True, capture_output=True, text=True, timeout=60
    )
    got = json.loads(out.stdout)
    assert got["released"] and got["kept"] == 3_200
    assert got["before"] - got["after"] > 100 * 1024, got


async def test_trims_every_interval_until_cancelled() -> None:
    calls: list[float] = []

    def trim() -> bool:
        calls.append(asyncio.get_running_loop().time())
        return True

    task = asyncio.create_task(heap.trim_every(0.01, trim))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 3 <= len(calls) <= 11
    done = len(calls)
    await asyncio.sleep(0.03)
    assert len(calls) == done, "nothing after the cancel"


@pytest.mark.parametrize("trim", [None, lambda: True])
async def test_an_interval_of_zero_never_trims(trim: object) -> None:
    await asyncio.wait_for(heap.trim_every(0, trim), timeout=1)  # type: ignore[arg-type]
