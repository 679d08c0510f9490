"""The heap trimmer: glibc's malloc_trim really gives freed memory back, and the task paces it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from syncjob_operator import heap


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_trimming_gives_back_what_a_burst_left_in_a_fragmented_heap() -> None:
    trim = heap.trimmer()
    assert trim is not None, "this machine's C library is glibc"
    trim()
    # A burst: 200 MiB of 64 KiB blocks (the C allocator's heap, below its
    # mmap threshold), each followed by a small one that stays, so the heap's
    # top never frees; as the JSON texts of a storm's answers leave it.
    size = 64 * 1024
    burst, kept = [], []
    for _ in range(3_200):
        burst.append(b"x" * size)
        kept.append(bytearray(600))
    del burst
    before = rss_kib()
    assert trim()
    after = rss_kib()
    assert before - after > 100 * 1024, (before, after)
    assert len(kept) == 3_200


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
