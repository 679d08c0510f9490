"""A paused job's slot filled until it is lost, probed as the operator probes it.

Why this exists: how good the PostgreSQL deadline is can only be seen against
a real server really losing a slot.  Both the accuracy benchmark
(tests/bench/test_deadline_accuracy.py) and its short version in the
integration tests run the same thing: a fresh logical slot that nothing
reads (a paused job), WAL written at a steady rate that may change on a
schedule, the operator's own :class:`RetentionProber` asked for a bound every
probe interval, and a watcher that issues CHECKPOINT every few seconds (so
``lost`` shows soon after the slot is beyond its keep size) and notes when
the slot became ``unreserved`` and ``lost``.

Every loop is bounded; the writer and the watcher stop by themselves.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from syncjob_operator.controller.retention import RetentionProber
from syncjob_operator.decide import retention
from tests.env.postgres import PostgresServer
from tests.helpers.sources import WalWriter, pg_connection


@dataclass(frozen=True)
class Phase:
    """Write at ``bytes_per_second`` for ``seconds`` (None: until the slot is lost)."""

    bytes_per_second: float
    seconds: float | None = None


@dataclass(frozen=True)
class Probe:
    """One probe's answer, as the operator would have it."""

    at: datetime
    bound: retention.RetentionBound

    @property
    def deadline(self) -> datetime | None:
        return self.bound.deadline


@dataclass
class Run:
    """What happened: every probe, and when the server said unreserved and lost."""

    probe_interval: float
    probes: list[Probe] = field(default_factory=list)
    started: datetime | None = None
    unreserved_at: datetime | None = None
    lost_at: datetime | None = None
    phase_starts: list[datetime] = field(default_factory=list)

    def at_fraction(self, fraction: float) -> Probe:
        """The answer the operator had ``fraction`` of the way from the pause to the loss."""
        assert self.started is not None and self.lost_at is not None
        moment = self.started + fraction * (self.lost_at - self.started)
        return [p for p in self.probes if p.at <= moment][-1]

    def relative_error(self, probe: Probe) -> float | None:
        """(deadline - loss) / time left at the probe: negative is early, positive late."""
        assert self.lost_at is not None
        if probe.deadline is None:
            return None
        left = (self.lost_at - probe.at).total_seconds()
        return (probe.deadline - self.lost_at).total_seconds() / left


class SlotWatcher:
    """CHECKPOINT every ``checkpoint_every`` seconds; the slot's wal_status every ``look_every``.

    The loss is dated by the end of the CHECKPOINT after which the slot reads
    ``lost`` (the checkpoint is what removes the WAL and invalidates the slot).
    """

    def __init__(
        self,
        server: PostgresServer,
        slot: str,
        *,
        checkpoint_every: float,
        look_every: float = 0.25,
        limit_s: float = 600.0,
    ) -> None:
        self.server = server
        self.slot = slot
        self.checkpoint_every = checkpoint_every
        self.look_every = look_every
        self.limit_s = limit_s
        self.unreserved_at: datetime | None = None
        self.lost_at: datetime | None = None
        self.error: BaseException | None = None
        self.finished = threading.Event()  # the slot was seen lost, or the watcher gave up
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slot-watcher", daemon=True)

    def _status(self, conn: psycopg.Connection[tuple[object, ...]]) -> str | None:
        row = conn.execute(
            "SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s", [self.slot]
        ).fetchone()
        return None if row is None else str(row[0])

    def _run(self) -> None:
        started = time.monotonic()
        next_checkpoint = started + self.checkpoint_every
        try:
            with self.server.connect() as conn:
                while not self._stop.is_set() and time.monotonic() - started < self.limit_s:
                    if time.monotonic() >= next_checkpoint:
                        conn.execute("CHECKPOINT")
                        next_checkpoint += self.checkpoint_every
                    state = self._status(conn)
                    now = datetime.now(UTC)
                    if state == "unreserved" and self.unreserved_at is None:
                        self.unreserved_at = now
                    if state == "lost":
                        self.lost_at = now
                        return
                    self._stop.wait(self.look_every)
        except BaseException as exc:  # reported by stop()
            self.error = exc
        finally:
            self.finished.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self.error is not None:
            raise AssertionError(f"the slot watcher failed: {self.error!r}") from self.error


def new_slot(server: PostgresServer) -> str:
    """A fresh logical slot that nothing reads: a paused job's slot."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with server.connect() as conn:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", [name])
    return name


def drop_slot(server: PostgresServer, slot: str) -> None:
    with server.connect() as conn:
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
            " WHERE slot_name = %s",
            [slot],
        )


async def fill_until_lost(
    server: PostgresServer,
    phases: Sequence[Phase],
    *,
    probe_interval: float,
    checkpoint_every: float = 2.0,
    limit_s: float = 300.0,
) -> Run:
    """Fill a fresh slot by ``phases`` until the server says it is lost; probe all along.

    Probes run on an absolute schedule every ``probe_interval`` seconds, with
    a RetentionProber of their own (a fresh operator at the pause), until a
    probe reads the loss or ``limit_s`` passes.
    """
    slot = new_slot(server)
    run = Run(probe_interval=probe_interval)
    prober = RetentionProber()
    connection = pg_connection(server)
    watcher = SlotWatcher(server, slot, checkpoint_every=checkpoint_every, limit_s=limit_s)
    try:
        with WalWriter(server, bytes_per_second=phases[0].bytes_per_second, limit_s=limit_s) as w:
            watcher.start()
            origin = time.monotonic()
            run.started = datetime.now(UTC)
            run.phase_starts.append(run.started)
            phase_index = 0
            phase_ends = origin + (phases[0].seconds or limit_s)
            for k in range(int(limit_s / probe_interval) + 1):
                wait = origin + k * probe_interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if time.monotonic() >= phase_ends and phase_index + 1 < len(phases):
                    phase_index += 1
                    w.set_rate(phases[phase_index].bytes_per_second)
                    run.phase_starts.append(datetime.now(UTC))
                    phase_ends = time.monotonic() + (phases[phase_index].seconds or limit_s)
                now = datetime.now(UTC)
                bound = await prober.postgres_bound(connection, slot_name=slot, now=now)
                run.probes.append(Probe(at=now, bound=bound))
                if bound.lost:
                    break
        # The probe may read the loss a moment before the watcher does.
        await asyncio.to_thread(watcher.finished.wait, 30)
    finally:
        watcher.stop()
        drop_slot(server, slot)
    run.unreserved_at, run.lost_at = watcher.unreserved_at, watcher.lost_at
    return run


def status_deadlines(run: Run) -> list[datetime | None]:
    """The deadline status would show after each probe: kept until it moves meaningfully."""
    shown: datetime | None = None
    basis: str | None = None
    out: list[datetime | None] = []
    for probe in run.probes:
        new = probe.deadline
        if (
            shown is None
            or new is None
            or probe.bound.basis != basis
            or retention.deadline_moved(shown, new, now=probe.at)
        ):
            shown, basis = new, probe.bound.basis
        out.append(shown)
    return out


def seconds(delta: timedelta) -> float:
    return delta.total_seconds()
