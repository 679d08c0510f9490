"""The PostgreSQL slot probe against a real server: WAL fills a slot until it is lost.

The server (tests/env/postgres.py) has 1 MB WAL segments and
max_slot_wal_keep_size = 32 MB, so a few tens of MB of WAL walk a slot through
reserved -> unreserved -> lost in seconds. Each step goes through the real
probe and the pure bound, as the operator would.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from syncjob_operator.decide import retention
from syncjob_operator.probes import errors, postgresql
from syncjob_operator.probes.connection import SourceConnection
from tests.env.postgres import PostgresServer
from tests.env.processes import free_port
from tests.helpers.sources import PG_KEEP_SIZE_MB, pg_connection, write_wal

MiB = 1024 * 1024


async def probe(server: PostgresServer, slot: str) -> retention.PgSlotObservation:
    return await postgresql.probe_slot(pg_connection(server), slot_name=slot, timeout_s=10)


async def test_probe_reads_a_fresh_slot(pg_server: PostgresServer, pg_slot: str) -> None:
    obs = await probe(pg_server, pg_slot)
    assert obs.slot_name == pg_slot
    assert obs.plugin == "pgoutput" and obs.slot_type == "logical"
    assert obs.active is False  # nobody is streaming from it
    assert obs.wal_status == "reserved"
    assert obs.max_slot_wal_keep_size_bytes == PG_KEEP_SIZE_MB * MiB
    assert obs.safe_wal_size is not None
    assert (PG_KEEP_SIZE_MB - 1) * MiB < obs.safe_wal_size <= (PG_KEEP_SIZE_MB + 1) * MiB
    assert obs.retained_bytes is not None and 0 <= obs.retained_bytes < MiB
    assert obs.restart_lsn is not None and obs.restart_lsn <= obs.current_lsn
    assert obs.server_version_num >= 130000
    bound = retention.postgres_bound(obs, None, now=obs.observed_at)
    assert bound.reason == "WalRateUnknown" and bound.deadline is None


async def test_wal_shrinks_the_deadline_until_the_slot_is_lost(
    pg_server: PostgresServer, pg_slot: str
) -> None:
    first = await probe(pg_server, pg_slot)
    rate = retention.update_wal_rate(None, first.wal_sample)
    left: list[float] = []
    safe: list[int] = []
    for _ in range(3):  # 3 x 6 MB: 18 of 32 MB used
        write_wal(pg_server, 6)
        obs = await probe(pg_server, pg_slot)
        rate = retention.update_wal_rate(rate, obs.wal_sample)
        bound = retention.postgres_bound(obs, rate.bytes_per_second, now=obs.observed_at)
        assert bound.basis == retention.PG_SAFE_WAL_SIZE and bound.reason == "SafeWalSize"
        assert bound.deadline is not None and not bound.lost
        assert obs.safe_wal_size is not None
        safe.append(obs.safe_wal_size)
        left.append((bound.deadline - obs.observed_at).total_seconds())
    print(f"\nsafe_wal_size MB: {[round(s / MiB, 1) for s in safe]}")
    print(f"WAL rate: {rate.bytes_per_second and rate.bytes_per_second / MiB:.1f} MB/s")
    print(f"time left s: {[round(x, 2) for x in left]}")
    assert safe[0] > safe[1] > safe[2]
    assert safe[0] - safe[2] == pytest.approx(12 * MiB, rel=0.15)
    assert left[0] > left[1] > left[2] > 0

    # Past the limit: the slot no longer reserves its WAL; a checkpoint removes it.
    started = time.monotonic()
    write_wal(pg_server, 20)
    obs = await probe(pg_server, pg_slot)
    rate = retention.update_wal_rate(rate, obs.wal_sample)
    print(f"after 38 MB: wal_status={obs.wal_status} safe_wal_size={obs.safe_wal_size}")
    assert obs.wal_status in ("unreserved", "lost")
    bound = retention.postgres_bound(obs, rate.bytes_per_second, now=obs.observed_at)
    if obs.wal_status == "unreserved":
        assert bound.reason == "SlotUnreserved" and bound.deadline == obs.observed_at
        assert not bound.lost
        # A risk named by the slot, not a loss: the WAL is still on disk.
        assert bound.basis == retention.PG_WAL_STATUS and bound.checked
        assert not bound.lost_at(obs.observed_at + timedelta(days=1))
    with pg_server.connect() as conn:
        conn.execute("CHECKPOINT")
    obs = await probe(pg_server, pg_slot)
    lost_after = time.monotonic() - started
    print(f"after CHECKPOINT: wal_status={obs.wal_status}; lost {lost_after:.2f}s after the push")
    assert obs.wal_status == "lost"
    assert obs.safe_wal_size is None
    bound = retention.postgres_bound(obs, rate.bytes_per_second, now=datetime.now(UTC))
    assert bound.lost and bound.reason in ("SlotLost", "SlotInvalidated")


async def test_a_slot_read_in_time_keeps_its_wal(pg_server: PostgresServer, pg_slot: str) -> None:
    """A resumed job consumes the slot: restart_lsn moves and safe_wal_size grows back."""
    write_wal(pg_server, 16)
    before = await probe(pg_server, pg_slot)
    assert before.wal_status == "reserved" and before.safe_wal_size is not None
    with pg_server.connect() as conn:
        # What a resumed connector does, in effect: confirm everything up to now.
        # restart_lsn follows the last running-xacts record, which CHECKPOINT writes.
        conn.execute("SELECT pg_replication_slot_advance(%s, pg_current_wal_lsn())", [pg_slot])
        conn.execute("CHECKPOINT")
        conn.execute("SELECT pg_replication_slot_advance(%s, pg_current_wal_lsn())", [pg_slot])
    after = await probe(pg_server, pg_slot)
    assert after.wal_status == "reserved"
    assert after.safe_wal_size is not None and after.safe_wal_size > before.safe_wal_size + 8 * MiB
    assert after.retained_bytes is not None and after.retained_bytes < MiB


async def test_an_unreserved_slot_that_is_read_is_reserved_again(
    pg_server: PostgresServer, pg_slot: str
) -> None:
    """Unreserved is not lost: until a checkpoint removes the WAL, a consumer that reads the
    slot brings it back to reserved, and the next probe gives an ordinary bound again.

    No CHECKPOINT here: it would invalidate the slot.  restart_lsn of a logical
    slot only moves to a running-xacts record past it, which PostgreSQL 15's
    background writer logs every 15 s or so after WAL was written; so the slot
    is advanced (what a resumed connector does, in effect) until it is
    reserved, within a bound.
    """
    first = await probe(pg_server, pg_slot)
    rate = retention.update_wal_rate(None, first.wal_sample)
    write_wal(pg_server, PG_KEEP_SIZE_MB + 3)
    obs = await probe(pg_server, pg_slot)
    rate = retention.update_wal_rate(rate, obs.wal_sample)
    assert obs.wal_status == "unreserved"
    assert obs.safe_wal_size is not None and obs.safe_wal_size <= 0
    bound = retention.postgres_bound(obs, rate.bytes_per_second, now=obs.observed_at)
    assert (bound.basis, bound.reason, bound.lost) == (
        retention.PG_WAL_STATUS,
        "SlotUnreserved",
        False,
    )

    started = time.monotonic()
    deadline = started + 90
    while True:
        with pg_server.connect() as conn:
            conn.execute("SELECT pg_replication_slot_advance(%s, pg_current_wal_lsn())", [pg_slot])
        obs = await probe(pg_server, pg_slot)
        if obs.wal_status != "unreserved" or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    print(f"\nreserved again {time.monotonic() - started:.1f}s after the first advance")
    assert obs.wal_status == "reserved", obs
    assert obs.safe_wal_size is not None and obs.safe_wal_size > (PG_KEEP_SIZE_MB - 2) * MiB
    rate = retention.update_wal_rate(rate, obs.wal_sample)
    bound = retention.postgres_bound(obs, rate.bytes_per_second, now=obs.observed_at)
    assert bound.basis == retention.PG_SAFE_WAL_SIZE and not bound.lost
    assert bound.reason in ("SafeWalSize", "WalRateNegligible")


@pytest.fixture
def unlimited_keep_size(pg_server: PostgresServer) -> Iterator[None]:
    assert pg_server.reload({"max_slot_wal_keep_size": "-1"}) == []
    try:
        yield
    finally:
        pg_server.reload({"max_slot_wal_keep_size": f"{PG_KEEP_SIZE_MB}MB"})


@pytest.mark.usefixtures("unlimited_keep_size")
async def test_unlimited_keep_size_has_no_deadline_but_reports_retained_bytes(
    pg_server: PostgresServer, pg_slot: str
) -> None:
    write_wal(pg_server, 3)
    obs = await probe(pg_server, pg_slot)
    assert obs.max_slot_wal_keep_size_bytes is None
    assert obs.safe_wal_size is None
    # pg_current_wal_lsn() is the write position (as safe_wal_size uses); the
    # last few KB inserted may not be written yet, hence not a full 3 MB.
    assert obs.retained_bytes is not None and obs.retained_bytes >= 2 * MiB
    bound = retention.postgres_bound(obs, 1e6, now=obs.observed_at)
    assert bound.basis == "postgresql:max_slot_wal_keep_size=-1"
    assert bound.deadline is None and not bound.lost
    assert bound.figures["retainedBytes"] == obs.retained_bytes
    assert "disk" in bound.message


async def test_an_unprivileged_role_can_probe(pg_server: PostgresServer, pg_slot: str) -> None:
    with pg_server.connect() as conn:
        conn.execute("DROP ROLE IF EXISTS probe_ro")
        conn.execute("CREATE ROLE probe_ro LOGIN PASSWORD 'probe-ro-pw' NOSUPERUSER")
    obs = await postgresql.probe_slot(
        pg_connection(pg_server, user="probe_ro", password="probe-ro-pw"), slot_name=pg_slot
    )
    assert obs.wal_status == "reserved" and obs.max_slot_wal_keep_size_bytes is not None


async def test_bad_password_is_authentication_failed(
    pg_server: PostgresServer, pg_slot: str
) -> None:
    wrong = "not-the-password-123"
    with pytest.raises(errors.AuthenticationFailedError) as info:
        await postgresql.probe_slot(pg_connection(pg_server, password=wrong), slot_name=pg_slot)
    assert info.value.reason == "AuthenticationFailed"
    assert wrong not in str(info.value) and pg_server.password not in str(info.value)


async def test_wrong_port_is_source_unreachable(pg_server: PostgresServer, pg_slot: str) -> None:
    with pytest.raises(errors.SourceUnreachableError) as info:
        await postgresql.probe_slot(
            pg_connection(pg_server, port=str(free_port())), slot_name=pg_slot, timeout_s=5
        )
    assert info.value.reason == "SourceUnreachable"


async def test_missing_slot_is_slot_not_found(pg_server: PostgresServer) -> None:
    with pytest.raises(errors.SlotNotFoundError, match="no_such_slot") as info:
        await probe(pg_server, "no_such_slot")
    assert info.value.reason == "SlotNotFound"


async def test_missing_database_is_database_not_found(pg_server: PostgresServer) -> None:
    with pytest.raises(errors.DatabaseNotFoundError):
        await postgresql.probe_slot(pg_connection(pg_server, dbname="nope"), slot_name="x")


async def test_a_server_that_never_answers_is_a_bounded_timeout() -> None:
    """A listener that accepts nothing: the probe gives up within its bound."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        conn = SourceConnection(
            source_type="postgresql",
            host="127.0.0.1",
            port=port,
            user="u",
            password="p",
            dbname="d",
        )
        started = time.monotonic()
        with pytest.raises(errors.ProbeTimeoutError):
            await postgresql.probe_slot(conn, slot_name="s", timeout_s=3)
        assert time.monotonic() - started < 5


async def test_concurrent_probes_do_not_block_the_loop(
    pg_server: PostgresServer, pg_slot: str
) -> None:
    results = await asyncio.gather(*(probe(pg_server, pg_slot) for _ in range(5)))
    assert {r.slot_name for r in results} == {pg_slot}
