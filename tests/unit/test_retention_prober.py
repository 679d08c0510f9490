"""The RetentionProber's WAL rate carried over a restart: seeded from status, never guessed.

The probing itself is tested against the real PostgreSQL (tests/integration);
here only what the prober starts from.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncjob_operator.api import jobstatus
from syncjob_operator.controller.retention import RetentionProber
from syncjob_operator.decide import retention

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def shown(**fields: object) -> jobstatus.RetentionStatus:
    base: dict[str, object] = {
        "basis": retention.PG_SAFE_WAL_SIZE,
        "wal_bytes_per_second": 4096.0,
        "wal_sample_lsn": "0/6400000",
        "wal_sampled_at": "2026-11-24T10:00:00.500000Z",
    }
    base.update(fields)
    return jobstatus.RetentionStatus.model_validate(base)


def test_a_fresh_prober_goes_on_from_the_rate_status_shows() -> None:
    prober = RetentionProber()
    prober.seed(shown())
    assert prober.wal_rate is not None
    assert prober.wal_rate.bytes_per_second == 4096.0
    assert prober.wal_rate.last == retention.WalSample(
        lsn=100 * 1024 * 1024, at=T0.replace(microsecond=500_000)
    )


def test_a_prober_that_measured_keeps_its_own_rate() -> None:
    own = retention.WalRate(bytes_per_second=10.0, last=retention.WalSample(lsn=1, at=T0))
    prober = RetentionProber(wal_rate=own)
    prober.seed(shown())
    assert prober.wal_rate is own


@pytest.mark.parametrize(
    "status",
    [
        None,
        shown(wal_sample_lsn=None),
        shown(wal_sampled_at=None),
        shown(wal_sampled_at="yesterday"),
        shown(wal_sample_lsn="16"),
        jobstatus.RetentionStatus(basis="mariadb:binlog_expire_logs_seconds"),
    ],
    ids=["no-status", "no-lsn", "no-time", "bad-time", "bad-lsn", "another-source"],
)
def test_a_status_without_a_whole_sample_leaves_the_rate_to_measure(
    status: jobstatus.RetentionStatus | None,
) -> None:
    prober = RetentionProber()
    prober.seed(status)
    assert prober.wal_rate is None
