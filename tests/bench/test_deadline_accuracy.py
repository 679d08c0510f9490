"""Benchmark: how close the PostgreSQL deadline comes to the moment the slot is really lost.

The operator's own RetentionProber is driven directly (no operator process,
no Kubernetes), every PROBE_INTERVAL seconds (2 s: the interval the test
operator runs with; production's default is 30 s), against a real server
with ``max_slot_wal_keep_size = 64MB`` and 1 MB segments.  A fresh logical
slot that nothing reads stands for a paused job's; WAL is written at a
steady rate; CHECKPOINT every second makes ``lost`` show soon after the slot
passes its keep size (tests/helpers/deadline.py).  The deadline predicts
the moment the slot becomes ``unreserved``; the loss comes with the next
checkpoint after it, so up to a second later here (and up to
``checkpoint_timeout`` later on a real server): the "vs unreserved" column
shows the prediction without that.

Printed: the deadline the prober gave 25 %, 50 % and 75 % of the way from the
pause to the loss, as relative error (deadline - loss) / time left then:
negative is early.  The target is within +-10 % at every point and never
later than the loss by more than one probe interval.  Then the rate doubles
half-way (in time): how many seconds the prediction takes to be within 10 %
of the time left, and the measured rate within 10 % of the new rate.
"status" is the deadline status would show (kept until it moves by more than
a minute or 5 % of the time left, decide/status.py).

No assertion on time: a benchmark measures, it does not judge (``make
bench``); the behaviour is asserted by
tests/integration/test_deadline_before_loss.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncjob_operator import units
from syncjob_operator.decide import retention
from tests.env.postgres import PostgresServer, start_postgres
from tests.helpers.deadline import Phase, Probe, Run, fill_until_lost, seconds, status_deadlines

MiB = 1024 * 1024
KEEP_MB = 64
PROBE_INTERVAL = 2.0
CHECKPOINT_EVERY = 1.0
STEADY = 1.0 * MiB  # 64 MB in about a minute
DOUBLING_FROM = 0.5 * MiB  # then 1 MB/s: a third of the WAL before, two thirds after


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    srv = start_postgres(
        Path(tmp_path_factory.mktemp("bench-pg")),
        settings={
            "max_slot_wal_keep_size": f"{KEEP_MB}MB",
            # Only the bench's CHECKPOINTs remove WAL.
            "checkpoint_timeout": "1h",
            "max_wal_size": "1GB",
        },
    )
    try:
        yield srv
    finally:
        srv.stop()


def report(title: str, run: Run) -> None:
    assert run.started is not None and run.lost_at is not None
    window = seconds(run.lost_at - run.started)
    unreserved = (
        f"{seconds(run.unreserved_at - run.started):.1f}s" if run.unreserved_at else "not seen"
    )
    print(f"\n{title}: lost {window:.1f}s after the pause (unreserved at {unreserved})")
    shown = status_deadlines(run)
    print("  at    probe   left  deadline-loss  error  vs unreserved  status-loss  error")
    for fraction in (0.25, 0.5, 0.75):
        probe = run.at_fraction(fraction)
        index = run.probes.index(probe)
        left = seconds(run.lost_at - probe.at)
        error = run.relative_error(probe)
        if probe.deadline is None or error is None:
            print(f"  {fraction:4.0%} no deadline ({probe.bound.reason})")
            continue
        status = shown[index]
        status_off = seconds(status - run.lost_at) if status else float("nan")
        unreserved_error = (
            seconds(probe.deadline - run.unreserved_at) / seconds(run.unreserved_at - probe.at)
            if run.unreserved_at
            else float("nan")
        )
        print(
            f"  {fraction:4.0%} {seconds(probe.at - run.started):6.1f}s {left:6.1f}s"
            f" {seconds(probe.deadline - run.lost_at):+10.1f}s  {error:+6.1%}"
            f"  {unreserved_error:+10.1%}  {status_off:+10.1f}s  {status_off / left:+6.1%}"
        )


def follow_time(run: Run, *, since_phase: int, within: float = 0.10) -> float | None:
    """Seconds from the rate change to the first prediction within ``within`` of the time left."""
    changed = run.phase_starts[since_phase]
    for probe in run.probes:
        error = run.relative_error(probe)
        if probe.at >= changed and error is not None and abs(error) <= within:
            return seconds(probe.at - changed)
    return None


def rate_follow_time(run: Run, *, since_phase: int, within: float = 0.10) -> float | None:
    """Seconds from the rate change until the measured rate is within ``within`` of the new one.

    The new rate is what the server really wrote from the change to the last
    probe (its WAL positions), not the writer's nominal figure.
    """
    changed = run.phase_starts[since_phase]
    after = [p for p in run.probes if p.at >= changed]
    lsns = [_lsn(p) for p in after]
    if len(after) < 2 or lsns[0] is None or lsns[-1] is None:
        return None
    true_rate = (lsns[-1] - lsns[0]) / seconds(after[-1].at - after[0].at)
    for probe in after:
        rate = probe.bound.figures.get("walBytesPerSecond")
        if isinstance(rate, float) and abs(rate - true_rate) <= within * true_rate:
            return seconds(probe.at - changed)
    return None


def _lsn(probe: Probe) -> int | None:
    text = probe.bound.figures.get("walSampleLsn")
    return units.parse_lsn(text) if isinstance(text, str) else None


async def test_deadline_accuracy(server: PostgresServer) -> None:
    print(
        f"\nhalf-lives: rise {retention.RISE_HALF_LIFE.total_seconds():.0f}s, "
        f"fall {retention.FALL_HALF_LIFE.total_seconds():.0f}s; probe every {PROBE_INTERVAL:g}s"
    )
    steady = await fill_until_lost(
        server, [Phase(STEADY)], probe_interval=PROBE_INTERVAL, checkpoint_every=CHECKPOINT_EVERY
    )
    report(f"steady {STEADY / MiB:.1f} MB/s", steady)
    assert steady.lost_at is not None, "the slot was never lost"

    # The same WAL at DOUBLING_FROM for a third, then twice that: the two halves in time
    # are about as long.
    first_half = KEEP_MB * MiB / (3 * DOUBLING_FROM)
    doubling = await fill_until_lost(
        server,
        [Phase(DOUBLING_FROM, first_half), Phase(2 * DOUBLING_FROM)],
        probe_interval=PROBE_INTERVAL,
        checkpoint_every=CHECKPOINT_EVERY,
    )
    report(
        f"doubling {DOUBLING_FROM / MiB:.1f} -> {2 * DOUBLING_FROM / MiB:.1f} MB/s "
        f"after {first_half:.0f}s",
        doubling,
    )
    assert doubling.lost_at is not None, "the slot was never lost"
    follow = follow_time(doubling, since_phase=1)
    rate_follow = rate_follow_time(doubling, since_phase=1)
    print(
        "  deadline within 10 % of the time left "
        + (f"{follow:.1f}s after the doubling" if follow is not None else "never before the loss")
        + "; rate within 10 % "
        + (f"{rate_follow:.1f}s after" if rate_follow is not None else "never before the loss")
    )
    rows = []
    for probe in doubling.probes:
        error = doubling.relative_error(probe)
        rate = probe.bound.figures.get("walBytesPerSecond")
        rows.append(
            f"{seconds(probe.at - doubling.started):5.1f}s "
            f"{(rate or 0) / MiB if isinstance(rate, float) else 0:.2f}MB/s "
            + (f"{error:+.0%}" if error is not None else probe.bound.reason)
        )
    print("  probes: " + ", ".join(rows))
