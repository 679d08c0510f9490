"""Tables for syncjob_operator.units: durations, bytes, LSNs and timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from syncjob_operator import units

# --- durations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("72h", timedelta(hours=72)),
        ("30m", timedelta(minutes=30)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("10s", timedelta(seconds=10)),
        ("500ms", timedelta(milliseconds=500)),
        ("1.5h", timedelta(minutes=90)),
        ("1h0m0s", timedelta(hours=1)),
        ("250us", timedelta(microseconds=250)),
        ("250µs", timedelta(microseconds=250)),
        ("0s", timedelta(0)),
        (" 6h ", timedelta(hours=6)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert units.parse_duration(text) == expected


# Days are not Go syntax: the API's pattern refuses them, and so does the parser.
@pytest.mark.parametrize(
    "text",
    ["", "72", "h", "-5m", "1 h", "1h 30m", "3w", "1e3s", "PT72H", "2d", "2d12h"],
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        units.parse_duration(text)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(hours=72), "72h"),
        (timedelta(hours=6), "6h"),
        (timedelta(minutes=30), "30m"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(seconds=10), "10s"),
        (timedelta(milliseconds=500), "500ms"),
        (timedelta(milliseconds=2500), "2s500ms"),
        (timedelta(microseconds=250), "0.25ms"),
        (timedelta(hours=1, seconds=1), "1h1s"),
        (timedelta(0), "0s"),
    ],
)
def test_format_go_duration(delta: timedelta, text: str) -> None:
    assert units.format_go_duration(delta) == text
    assert units.parse_duration(text) == delta


def test_format_go_duration_refuses_a_negative_duration() -> None:
    with pytest.raises(ValueError, match="negative"):
        units.format_go_duration(timedelta(seconds=-1))


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(days=2, hours=3), "2d3h"),
        (timedelta(days=3), "3d"),
        (timedelta(hours=3, minutes=12), "3h12m"),
        (timedelta(hours=72), "3d"),
        (timedelta(minutes=45), "45m"),
        (timedelta(seconds=30), "30s"),
        (timedelta(minutes=-5), "-5m"),
    ],
)
def test_format_duration(delta: timedelta, text: str) -> None:
    assert units.format_duration(delta) == text


# --- bytes and LSNs -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "text"),
    [(512, "512 B"), (1536, "1.5 KiB"), (1 << 30, "1.0 GiB"), (3 << 40, "3.0 TiB"), (0, "0 B")],
)
def test_format_bytes(n: int, text: str) -> None:
    assert units.format_bytes(n) == text


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("0/0", 0),
        ("0/16B3748", 0x16B3748),
        ("16/B374D848", (0x16 << 32) | 0xB374D848),
        ("FFFFFFFF/FFFFFFFF", 2**64 - 1),
        ("a/ff", (0xA << 32) | 0xFF),
    ],
)
def test_parse_lsn(text: str, position: int) -> None:
    assert units.parse_lsn(text) == position


@pytest.mark.parametrize(
    ("position", "text"),
    [(0, "0/0"), (0x16B3748, "0/16B3748"), ((0x16 << 32) | 0xB374D848, "16/B374D848")],
)
def test_format_lsn_is_what_postgresql_writes(position: int, text: str) -> None:
    assert units.format_lsn(position) == text
    assert units.parse_lsn(units.format_lsn(position)) == position


@pytest.mark.parametrize("position", [-1, 2**64])
def test_format_lsn_rejects_what_is_no_lsn(position: int) -> None:
    with pytest.raises(ValueError, match="not an LSN"):
        units.format_lsn(position)


@pytest.mark.parametrize("text", ["", "16", "16/", "/B374D848", "16/XYZ", "1/2/3", "123456789/0"])
def test_parse_lsn_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid LSN"):
        units.parse_lsn(text)


# --- timestamps -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 11, 24, 12, 0, 30, 999_999, tzinfo=UTC), "2026-11-24T12:00:30Z"),
        (
            datetime(2026, 11, 24, 14, 0, tzinfo=timezone(timedelta(hours=2))),
            "2026-11-24T12:00:00Z",
        ),
        (datetime(2026, 11, 24, 12, 0), "2026-11-24T12:00:00Z"),  # naive: UTC
    ],
)
def test_rfc3339(moment: datetime, text: str) -> None:
    assert units.rfc3339(moment) == text


def test_rfc3339_with_the_fraction_reads_back_exactly() -> None:
    moment = datetime(2026, 11, 24, 12, 0, 30, 123_456, tzinfo=UTC)
    assert units.rfc3339(moment, fraction=True) == "2026-11-24T12:00:30.123456Z"
    assert units.parse_time(units.rfc3339(moment, fraction=True)) == moment


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T10:00:00Z", datetime(2026, 11, 27, 10, tzinfo=UTC)),
        ("2026-11-27T12:00:00+02:00", datetime(2026, 11, 27, 10, tzinfo=UTC)),
        ("2026-11-27T10:00:00", datetime(2026, 11, 27, 10, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_parse_time(text: str | None, expected: datetime | None) -> None:
    parsed = units.parse_time(text)
    assert parsed == expected
    assert parsed is None or parsed.tzinfo is not None


def test_parse_time_refuses_what_is_no_timestamp() -> None:
    with pytest.raises(ValueError):
        units.parse_time("tomorrow")
