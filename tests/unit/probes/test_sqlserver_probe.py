"""SQL Server CDC retention: recorded query results in, a bound out; errors as conditions.

No SQL Server can run here, so the probe's queries meet recorded rows: a
stand-in for ``pytds.connect`` answers each query with rows shaped as pytds
returns them (dicts with ``as_dict=True``, tuples otherwise), and the
driver's own exception types (built the way pytds builds them from a server
message) stand in for the server's errors. Two tests do real I/O: pytds
really connects to a closed local port (SourceUnreachable) and to a port
that never answers (ProbeTimeout).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytds  # type: ignore[import-untyped]
import pytest

from syncjob_operator.api import jobspec, jobstatus, v1alpha1
from syncjob_operator.backends.kube import Kube
from syncjob_operator.controller.loop import JobLoop
from syncjob_operator.controller.retention import RetentionProber, earliest_commit_lsn
from syncjob_operator.controller.shared import Shared
from syncjob_operator.decide import retention
from syncjob_operator.decide.observed import ConnectorState
from syncjob_operator.probes import errors, sqlserver, sqlserver_rows
from syncjob_operator.probes.connection import SourceConnection
from syncjob_operator.settings import Settings
from tests.env.processes import free_port

PASSWORD = "Tr1cky-pw'; --"
PAUSED_AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
LSN = "0000002b:00000a40:0003"
LSN_BYTES = bytes.fromhex("0000002B00000A400003")
CONN = SourceConnection(
    source_type="sqlserver",
    host="mssql.sales",
    port=1433,
    user="debezium",
    password=PASSWORD,
    dbname="inventory",
)


# --- recorded rows -> retention minutes, commit time, bound ---------------------------


@pytest.mark.parametrize(
    ("cleanup_rows", "time_rows", "deadline", "minutes"),
    [
        # The default (4320 min = 3 days), dict rows as pytds gives them with as_dict=True;
        # the server's clock is UTC.
        (
            [{"retention": 4320}],
            [{"commit_time": datetime(2026, 11, 24, 9, 30, 15, 123000), "utc_offset_minutes": 0}],
            datetime(2026, 11, 27, 9, 30, 15, 123000, tzinfo=UTC),
            4320,
        ),
        # A custom retention (sp_cdc_change_job @retention = 1440), tuple rows, a server
        # running at UTC+2: 09:30 local is 07:30 UTC.
        (
            [(1440,)],
            [(datetime(2026, 11, 24, 9, 30), 120)],
            datetime(2026, 11, 25, 7, 30, tzinfo=UTC),
            1440,
        ),
        # A server west of UTC (-300: UTC-5), a week of retention (bigint comes back as int).
        (
            [{"retention": 10080}],
            [(datetime(2026, 11, 20, 8, 0), -300)],
            datetime(2026, 11, 27, 13, 0, tzinfo=UTC),
            10080,
        ),
        # NULL commit time (the LSN is not in cdc.lsn_time_mapping): counts from the pause.
        (
            [(4320,)],
            [(None, 60)],
            PAUSED_AT + timedelta(minutes=4320),
            4320,
        ),
        # No time query at all (no commit LSN known): counts from the pause.
        ([{"retention": 60}], [], PAUSED_AT + timedelta(minutes=60), 60),
    ],
)
def test_bound_from_recorded_rows(
    cleanup_rows: list[Any], time_rows: list[Any], deadline: datetime, minutes: int
) -> None:
    got_minutes = sqlserver_rows.retention_minutes_from_rows(cleanup_rows)
    commit_time = sqlserver_rows.commit_time_from_rows(time_rows)
    bound = retention.sqlserver_bound(got_minutes, commit_time=commit_time, paused_at=PAUSED_AT)
    assert got_minutes == minutes
    assert bound.basis == retention.SQLSERVER_CLEANUP == "sqlserver:cdc_cleanup_retention"
    assert (bound.deadline, bound.lost, bound.reason) == (deadline, False, "CdcCleanupRetention")
    assert bound.figures == {"retentionMinutes": minutes}
    if commit_time is None:
        assert "may be late" in bound.message


def test_commit_time_is_utc_and_aware() -> None:
    t = sqlserver_rows.commit_time_from_rows([(datetime(2026, 1, 1, 0, 30), 60)])
    assert t == datetime(2025, 12, 31, 23, 30, tzinfo=UTC) and t.tzinfo is UTC


@pytest.mark.parametrize("rows", [[], [(None,)], [{"retention": None}]])
def test_no_cleanup_row_reads_as_none(rows: list[Any]) -> None:
    assert sqlserver_rows.retention_minutes_from_rows(rows) is None


@pytest.mark.parametrize("value", [0, -5])
def test_a_nonsense_retention_is_refused(value: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        sqlserver_rows.retention_minutes_from_rows([(value,)])


def test_a_commit_time_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(ValueError, match="expected a datetime"):
        sqlserver_rows.commit_time_from_rows([(b"\x00" * 8, 0)])


# --- the commit LSN: validated, and sent only as a parameter ---------------------------


@pytest.mark.parametrize(
    ("lsn", "hex_bytes"),
    [
        (LSN, "0000002B00000A400003"),
        ("0000002a:00000c38:0003", "0000002A00000C380003"),
        ("FFFFFFFF:FFFFFFFF:FFFF", "FFFFFFFFFFFFFFFFFFFF"),
    ],
)
def test_commit_lsn_bytes(lsn: str, hex_bytes: str) -> None:
    assert sqlserver_rows.commit_lsn_literal(lsn) == "0x" + hex_bytes
    assert sqlserver_rows.commit_lsn_bytes(lsn) == bytes.fromhex(hex_bytes)
    assert len(sqlserver_rows.commit_lsn_bytes(lsn)) == 10


@pytest.mark.parametrize(
    "lsn",
    [
        "",
        "0x0000002B00000A400003",
        "0000002b:00000a40",
        "2b:a40:3",
        "0000002b:00000a40:0003; DROP TABLE orders;--",
        "0000002b:00000a40:0003' OR '1'='1",
        "0000002b:00000a40:0003)) ; SHUTDOWN --",
        "0000002b:00000a40:000g",
        "0000002b:00000a40:0003\n;SELECT 1",
        "0000002b 00000a40 0003",
        "\u0660" * 6 + "\u0662b:00000a40:0003",  # Arabic-Indic digits: \d, not hex
    ],
)
def test_commit_lsn_injection_is_refused(lsn: str) -> None:
    with pytest.raises(ValueError, match="invalid SQL Server LSN"):
        sqlserver_rows.commit_lsn_bytes(lsn)


def test_the_sql_text_has_no_place_for_a_spliced_value() -> None:
    # The LSN goes in as one %s parameter (pytds sends it through sp_executesql).
    assert sqlserver.COMMIT_TIME_SQL.count("%s") == 1
    assert "%" not in sqlserver.CLEANUP_RETENTION_SQL + sqlserver.CDC_ENABLED_SQL
    assert "msdb.dbo.cdc_jobs" in sqlserver.CLEANUP_RETENTION_SQL
    assert "DB_ID()" in sqlserver.CLEANUP_RETENTION_SQL
    for sql in (sqlserver.CLEANUP_RETENTION_SQL, sqlserver.CDC_ENABLED_SQL):
        assert sql.lstrip().upper().startswith("SELECT")


# --- the probe against a recorded server ----------------------------------------------


@dataclass
class RecordedServer:
    """Stands in for pytds.connect: answers each query with recorded rows."""

    answers: Mapping[str, list[Any]]
    connect_error: BaseException | None = None
    query_error: Mapping[str, BaseException] = field(default_factory=dict)
    connects: list[dict[str, Any]] = field(default_factory=list)
    executed: list[tuple[str, Any]] = field(default_factory=list)
    closed: bool = False

    def connect(self, **kwargs: Any) -> RecordedServer:
        self.connects.append(kwargs)
        if self.connect_error is not None:
            raise self.connect_error
        return self

    # connection
    def __enter__(self) -> RecordedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True

    def cursor(self) -> RecordedCursor:
        return RecordedCursor(self)


@dataclass
class RecordedCursor:
    server: RecordedServer
    rows: list[Any] = field(default_factory=list)

    def __enter__(self) -> RecordedCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def execute(self, sql: str, params: Any = None) -> None:
        self.server.executed.append((sql, params))
        if sql in self.server.query_error:
            raise self.server.query_error[sql]
        self.rows = list(self.server.answers[sql])

    def fetchall(self) -> list[Any]:
        return self.rows


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordedServer]:
    recorded = RecordedServer(
        answers={
            sqlserver.CLEANUP_RETENTION_SQL: [{"retention": 4320}],
            sqlserver.CDC_ENABLED_SQL: [{"database_name": "inventory", "is_cdc_enabled": True}],
            sqlserver.COMMIT_TIME_SQL: [
                {"commit_time": datetime(2026, 11, 24, 9, 0), "utc_offset_minutes": 0}
            ],
            # Two capture instances, both still holding changes from before the offset.
            sqlserver.CAPTURE_INSTANCES_SQL: [
                {
                    "capture_instance": "dbo_orders",
                    "min_lsn": bytes.fromhex("0000002A00000C380003"),
                    "create_date": datetime(2026, 11, 1, 8, 0),
                    "utc_offset_minutes": 0,
                },
                {
                    "capture_instance": "dbo_customers",
                    "min_lsn": LSN_BYTES,
                    "create_date": datetime(2026, 11, 1, 8, 0),
                    "utc_offset_minutes": 0,
                },
            ],
        }
    )
    monkeypatch.setattr(pytds, "connect", recorded.connect)
    yield recorded


def probe(commit_lsn: str | None = LSN, **kwargs: Any) -> sqlserver.CdcObservation:
    return asyncio.run(sqlserver.probe_cdc_retention(CONN, commit_lsn=commit_lsn, **kwargs))


def read(obs: sqlserver.CdcObservation) -> tuple[int | None, datetime | None]:
    return obs.retention_minutes, obs.commit_time


def test_probe_reads_retention_and_commit_time(server: RecordedServer) -> None:
    obs = probe()
    assert read(obs) == (4320, datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    assert [sql for sql, _ in server.executed] == [
        sqlserver.CLEANUP_RETENTION_SQL,
        sqlserver.COMMIT_TIME_SQL,
        sqlserver.CAPTURE_INSTANCES_SQL,
    ]
    assert obs.commit_lsn == LSN_BYTES
    assert obs.cleanup is not None
    assert [(i.name, i.min_lsn) for i in obs.cleanup.instances] == [
        ("dbo_orders", bytes.fromhex("0000002A00000C380003")),
        ("dbo_customers", LSN_BYTES),
    ]
    # The LSN travels as 10 bytes in a parameter, never in the SQL text.
    assert server.executed[1][1] == (LSN_BYTES,)
    assert all(LSN not in sql and "0x" not in sql for sql, _ in server.executed)
    assert server.closed
    (kwargs,) = server.connects
    assert kwargs["dsn"] == "mssql.sales" and kwargs["port"] == 1433
    assert kwargs["database"] == "inventory" and kwargs["user"] == "debezium"
    assert kwargs["autocommit"] is True and kwargs["as_dict"] is True
    assert kwargs["cafile"] is None  # the Secret did not ask for TLS
    # Bounded: login and each query time out well within the overall bound.
    assert 0 < kwargs["login_timeout"] <= 7.5 and 0 < kwargs["timeout"] <= 3.75


def test_probe_without_a_commit_lsn_skips_the_time_query(server: RecordedServer) -> None:
    obs = probe(None)
    assert read(obs) == (4320, None)
    assert [sql for sql, _ in server.executed] == [sqlserver.CLEANUP_RETENTION_SQL]
    assert (obs.commit_lsn, obs.cleanup) == (None, None)  # nothing to compare with


def test_probe_with_a_null_commit_time(server: RecordedServer) -> None:
    server.answers = {
        **server.answers,
        sqlserver.COMMIT_TIME_SQL: [{"commit_time": None, "utc_offset_minutes": 0}],
    }
    assert read(probe()) == (4320, None)


@pytest.mark.parametrize(
    "rows",
    [
        # dict rows (as_dict=True), server at UTC+1: 09:00 local is 08:00 UTC.
        [
            {
                "capture_instance": "dbo_orders",
                "min_lsn": LSN_BYTES,
                "create_date": datetime(2026, 11, 1, 9, 0),
                "utc_offset_minutes": 60,
            },
            {
                "capture_instance": "dbo_hidden",
                "min_lsn": bytes(10),
                "create_date": datetime(2026, 11, 1, 9, 0),
                "utc_offset_minutes": 60,
            },
        ],
        # tuple rows, in SELECT order.
        [
            ("dbo_orders", LSN_BYTES, datetime(2026, 11, 1, 9, 0), 60),
            ("dbo_hidden", bytes(10), datetime(2026, 11, 1, 9, 0), 60),
        ],
    ],
)
def test_capture_instances_from_recorded_rows(rows: list[Any]) -> None:
    assert sqlserver_rows.capture_instances_from_rows(rows) == (
        retention.CaptureInstance("dbo_orders", LSN_BYTES, datetime(2026, 11, 1, 8, 0, tzinfo=UTC)),
        # All zeros: fn_cdc_get_min_lsn's answer for an instance the login may not read.
        retention.CaptureInstance("dbo_hidden", None, datetime(2026, 11, 1, 8, 0, tzinfo=UTC)),
    )


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ({"capture_instance": None, "min_lsn": LSN_BYTES}, "expected a name"),
        ({"capture_instance": "dbo_t", "min_lsn": "0x00"}, "expected binary"),
        ({"capture_instance": "dbo_t", "min_lsn": b"\x01" * 8}, "expected 10"),
        ({"capture_instance": "dbo_t", "min_lsn": LSN_BYTES, "create_date": 5}, "a datetime"),
    ],
)
def test_unreadable_capture_instance_rows_are_refused(row: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        sqlserver_rows.capture_instances_from_rows([row])


def test_a_login_that_may_not_read_the_change_tables_leaves_the_deadline(
    server: RecordedServer,
) -> None:
    server.query_error = {
        sqlserver.CAPTURE_INSTANCES_SQL: server_error(
            229, f"The SELECT permission was denied on the object 'change_tables'. {PASSWORD}"
        )
    }
    obs = probe()
    assert read(obs) == (4320, datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    assert obs.cleanup is not None and obs.cleanup.instances == ()
    assert "may not read cdc.change_tables" in obs.cleanup.unknown
    assert PASSWORD not in obs.cleanup.unknown
    bound = retention.sqlserver_bound(
        obs.retention_minutes,
        commit_time=obs.commit_time,
        paused_at=PAUSED_AT,
        commit_lsn=obs.commit_lsn,
        cleanup=obs.cleanup,
    )
    assert (bound.lost, bound.checked) == (False, False)
    assert bound.deadline == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def test_other_errors_on_the_change_tables_fail_the_probe(server: RecordedServer) -> None:
    server.query_error = {sqlserver.CAPTURE_INSTANCES_SQL: server_error(208, "Invalid object")}
    with pytest.raises(errors.ProbeError) as caught:
        probe()
    assert caught.value.reason == "ProbeFailed"


def test_missing_cleanup_job_is_a_probe_error(server: RecordedServer) -> None:
    server.answers = {**server.answers, sqlserver.CLEANUP_RETENTION_SQL: []}
    with pytest.raises(errors.ProbeError) as caught:
        probe()
    assert caught.value.reason == "CdcCleanupJobMissing"
    assert "inventory" in caught.value.message and "spec.source.retention" in caught.value.message
    assert sqlserver.COMMIT_TIME_SQL not in [sql for sql, _ in server.executed]


def test_a_database_without_cdc_says_so(server: RecordedServer) -> None:
    server.answers = {
        **server.answers,
        sqlserver.CLEANUP_RETENTION_SQL: [],
        sqlserver.CDC_ENABLED_SQL: [("inventory", False)],
    }
    with pytest.raises(errors.ProbeError) as caught:
        probe()
    assert caught.value.reason == "CdcNotEnabled"
    assert "CDC is not enabled on database inventory" in caught.value.message


def test_an_invalid_lsn_is_refused_before_any_io(server: RecordedServer) -> None:
    with pytest.raises(errors.ProbeError) as caught:
        probe("0000002b:00000a40:0003'; DROP TABLE t;--")
    assert caught.value.reason == "InvalidCommitLsn"
    assert server.connects == []


def test_an_unreadable_row_is_a_probe_error(server: RecordedServer) -> None:
    server.answers = {**server.answers, sqlserver.CLEANUP_RETENTION_SQL: [(0,)]}
    with pytest.raises(errors.ProbeError, match="positive"):
        probe()


def test_tls_asked_for_without_pyopenssl_is_refused(
    server: RecordedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pytds.tls, "OPENSSL_AVAILABLE", False)
    tls_conn = SourceConnection(
        source_type="sqlserver",
        host="h",
        port=1433,
        user="u",
        password=PASSWORD,
        dbname="d",
        sslmode="verify-full",
    )
    with pytest.raises(errors.ProbeError) as caught:
        asyncio.run(sqlserver.probe_cdc_retention(tls_conn, commit_lsn=None))
    assert caught.value.reason == "TlsUnavailable"
    assert server.connects == []  # never logs in unencrypted when TLS was asked for


# --- driver errors -> condition reasons, never the password ----------------------------


def server_error(number: int, text: str) -> Exception:
    """A pytds exception built the way pytds builds one from a server ERROR token."""
    message = {
        "marker": 0xAA,
        "msgno": number,
        "state": 1,
        "severity": 14,
        "sql_state": None,
        "priv_msg_type": 0,
        "message": text,
        "server": "mssql",
        "proc_name": "",
        "line_number": 1,
    }
    return cast(Exception, pytds.tds_base._create_exception_by_message(message))


def caused(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("exc", "reason", "cls"),
    [
        (
            server_error(18456, f"Login failed for user 'debezium'. pw={PASSWORD}"),
            "AuthenticationFailed",
            errors.AuthenticationFailedError,
        ),
        (
            server_error(18487, "Login failed for user 'debezium'. Reason: The password expired."),
            "AuthenticationFailed",
            errors.AuthenticationFailedError,
        ),
        (
            server_error(
                229,
                "The SELECT permission was denied on the object 'cdc_jobs', database 'msdb', "
                "schema 'dbo'.",
            ),
            "PermissionDenied",
            errors.PermissionDeniedError,
        ),
        (
            server_error(
                916,
                'The server principal "debezium" is not able to access the database "msdb" '
                "under the current security context.",
            ),
            "PermissionDenied",
            errors.PermissionDeniedError,
        ),
        (
            server_error(
                4060, 'Cannot open database "inventory" requested by the login. The login failed.'
            ),
            "DatabaseNotFound",
            errors.DatabaseNotFoundError,
        ),
        # pytds retries a login that fails this way, then raises TimeoutError from it.
        (
            caused(TimeoutError(), server_error(4060, "Cannot open database")),
            "DatabaseNotFound",
            errors.DatabaseNotFoundError,
        ),
        (
            caused(TimeoutError(), ConnectionRefusedError(111, "Connection refused")),
            "SourceUnreachable",
            errors.SourceUnreachableError,
        ),
        (
            caused(TimeoutError(), TimeoutError("timed out")),  # socket.timeout is TimeoutError
            "ProbeTimeout",
            errors.ProbeTimeoutError,
        ),
        (TimeoutError(), "ProbeTimeout", errors.ProbeTimeoutError),
        (
            socket.gaierror(-2, "Name or service not known"),
            "SourceUnreachable",
            errors.SourceUnreachableError,
        ),
        (
            ConnectionResetError(104, "Connection reset by peer"),
            "SourceUnreachable",
            errors.SourceUnreachableError,
        ),
        (pytds.ClosedConnectionError(), "SourceUnreachable", errors.SourceUnreachableError),
        (
            pytds.Error(
                "Client does not have encryption enabled but it is required by server, "
                "enable encryption and try connecting again"
            ),
            "SourceUnreachable",
            errors.SourceUnreachableError,
        ),
        (
            server_error(208, "Invalid object name 'msdb.dbo.cdc_jobs'."),
            "ProbeFailed",
            errors.ProbeError,
        ),
        (
            server_error(
                40515,
                "Reference to database and/or server name in 'msdb.dbo.cdc_jobs' is not "
                f"supported in this version of SQL Server. {PASSWORD}",
            ),
            "ProbeFailed",
            errors.ProbeError,
        ),
    ],
)
def test_driver_errors_map_to_reasons(exc: BaseException, reason: str, cls: type) -> None:
    mapped = sqlserver.map_error(exc, CONN)
    assert type(mapped) is cls and mapped.reason == reason
    assert "mssql.sales:1433" in mapped.message
    assert PASSWORD not in mapped.message and PASSWORD not in str(mapped)


def test_the_permission_message_says_what_to_grant() -> None:
    mapped = sqlserver.map_error(server_error(229, "The SELECT permission was denied"), CONN)
    assert "msdb.dbo.cdc_jobs" in mapped.message


@pytest.mark.parametrize("where", ["connect", "query"])
def test_driver_errors_through_the_probe(server: RecordedServer, where: str) -> None:
    error = server_error(18456, f"Login failed for user 'debezium' ({PASSWORD})")
    if where == "connect":
        server.connect_error = error
    else:
        server.query_error = {sqlserver.CLEANUP_RETENTION_SQL: server_error(229, PASSWORD)}
    with pytest.raises(errors.ProbeError) as caught:
        probe()
    assert caught.value.reason == (
        "AuthenticationFailed" if where == "connect" else "PermissionDenied"
    )
    assert PASSWORD not in caught.value.message
    # No driver exception (which might carry more detail) rides along.
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


# --- real I/O: pytds really connects -------------------------------------------------


def test_a_closed_port_is_source_unreachable() -> None:
    conn = SourceConnection(
        source_type="sqlserver",
        host="127.0.0.1",
        port=free_port(),
        user="sa",
        password=PASSWORD,
        dbname="inventory",
    )
    with pytest.raises(errors.SourceUnreachableError) as caught:
        asyncio.run(sqlserver.probe_cdc_retention(conn, commit_lsn=LSN, timeout_s=2))
    assert caught.value.reason == "SourceUnreachable"
    assert "127.0.0.1" in caught.value.message and "refused" in caught.value.message.lower()
    assert PASSWORD not in caught.value.message


def test_a_server_that_never_answers_is_a_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel accepts; nobody ever speaks TDS
        conn = SourceConnection(
            source_type="sqlserver",
            host="127.0.0.1",
            port=listener.getsockname()[1],
            user="sa",
            password=PASSWORD,
            dbname="inventory",
        )
        with pytest.raises(errors.ProbeTimeoutError) as caught:
            asyncio.run(sqlserver.probe_cdc_retention(conn, commit_lsn=None, timeout_s=2))
    assert PASSWORD not in caught.value.message


# --- the prober: the earliest commit LSN ------------------------------------------------


@pytest.mark.parametrize(
    ("offsets", "earliest"),
    [
        ([], None),
        ([{"snapshot": "INITIAL", "snapshot_completed": False}], None),
        ([{"commit_lsn": LSN, "change_lsn": LSN, "event_serial_no": 1}], LSN),
        (
            [
                {"commit_lsn": "0000002b:00000a40:0003"},
                {"commit_lsn": "0000002a:ffffffff:ffff"},  # earlier: the first part decides
                {"commit_lsn": "0000002b:00000a40:0002"},
                {"other": "no commit_lsn"},
            ],
            "0000002a:ffffffff:ffff",
        ),
        (
            [{"commit_lsn": "0000002B:00000A40:0003"}, {"commit_lsn": "0000002b:00000a3f:ffff"}],
            "0000002b:00000a3f:ffff",
        ),
    ],
)
def test_earliest_commit_lsn(offsets: list[dict[str, Any]], earliest: str | None) -> None:
    assert earliest_commit_lsn(offsets) == earliest


def test_an_unreadable_commit_lsn_is_not_skipped() -> None:
    with pytest.raises(errors.ProbeError) as caught:
        earliest_commit_lsn([{"commit_lsn": LSN}, {"commit_lsn": "garbage"}])
    assert caught.value.reason == "InvalidCommitLsn"


class SecretsOnly:
    """Kube as the prober uses it: read_secret only."""

    def __init__(self, secrets: dict[str, dict[str, str]]) -> None:
        self.secrets = secrets

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        return self.secrets.get(name)


SECRET = {"host": "mssql.sales", "dbname": "inventory", "user": "debezium", "password": PASSWORD}


def sqlserver_spec(retention_setting: str | None = None) -> jobspec.SyncJobSpec:
    source: dict[str, Any] = {"type": "sqlserver", "connectionSecretRef": {"name": "db"}}
    if retention_setting:
        source["retention"] = retention_setting
    return v1alpha1.parse_spec(
        {
            "paused": True,
            "connect": {"url": "http://connect:8083", "connectors": ["src", "sink"]},
            "source": source,
        }
    )


def run_prober(
    spec: jobspec.SyncJobSpec, offsets: Sequence[Mapping[str, Any]]
) -> tuple[retention.RetentionBound | None, tuple[Any, ...]]:
    return asyncio.run(
        RetentionProber().current(
            kube=cast(Kube, SecretsOnly({"db": SECRET})),
            namespace="ns",
            spec=spec,
            paused_at=PAUSED_AT,
            now=PAUSED_AT + timedelta(hours=1),
            interval=30.0,
            source_offsets=offsets,
        )
    )


def test_prober_uses_the_earliest_commit_lsn(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[SourceConnection, str | None]] = []

    async def fake_probe(
        connection: SourceConnection, *, commit_lsn: str | None, timeout_s: float = 15
    ) -> sqlserver.CdcObservation:
        asked.append((connection, commit_lsn))
        return sqlserver.CdcObservation(4320, datetime(2026, 11, 24, 8, 0, tzinfo=UTC))

    monkeypatch.setattr(sqlserver, "probe_cdc_retention", fake_probe)
    bound, errs = run_prober(
        sqlserver_spec(),
        [{"commit_lsn": "0000002b:00000a40:0003"}, {"commit_lsn": "0000002b:00000a10:0001"}],
    )
    assert errs == ()
    ((connection, commit_lsn),) = asked
    assert commit_lsn == "0000002b:00000a10:0001"
    assert (connection.host, connection.dbname, connection.password) == (
        "mssql.sales",
        "inventory",
        PASSWORD,
    )
    assert bound is not None and bound.basis == retention.SQLSERVER_CLEANUP
    assert bound.deadline == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def test_prober_without_offsets_counts_from_the_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fake_probe(
        connection: SourceConnection, *, commit_lsn: str | None, timeout_s: float = 15
    ) -> sqlserver.CdcObservation:
        assert commit_lsn is None
        return sqlserver.CdcObservation(60, None)

    monkeypatch.setattr(sqlserver, "probe_cdc_retention", fake_probe)
    bound, errs = run_prober(sqlserver_spec(), [])
    assert errs == () and bound is not None
    assert bound.deadline == PAUSED_AT + timedelta(minutes=60) and "may be late" in bound.message


def test_prober_failure_falls_back_to_spec_retention(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fake_probe(
        connection: SourceConnection, *, commit_lsn: str | None, timeout_s: float = 15
    ) -> sqlserver.CdcObservation:
        raise errors.ProbeError("no cleanup job", reason="CdcCleanupJobMissing")

    monkeypatch.setattr(sqlserver, "probe_cdc_retention", fake_probe)
    bound, errs = run_prober(sqlserver_spec("48h"), [{"commit_lsn": LSN}])
    assert [(e.reason, e.transient) for e in errs] == [("CdcCleanupJobMissing", True)]
    assert bound is not None and bound.basis == retention.CONFIGURED
    assert bound.deadline == PAUSED_AT + timedelta(hours=48)
    bound, errs = run_prober(sqlserver_spec(), [{"commit_lsn": "not-an-lsn"}])
    assert bound is None and [e.reason for e in errs] == ["InvalidCommitLsn"]


def test_prober_reports_the_cleanup_past_the_offset(server: RecordedServer) -> None:
    """The whole path on recorded rows: offsets -> probe -> bound, lost and checked."""
    server.answers = {
        **server.answers,
        sqlserver.CAPTURE_INSTANCES_SQL: [
            {
                "capture_instance": "dbo_orders",
                "min_lsn": bytes.fromhex("0000002B00000B000001"),  # past 0000002b:00000a40:0003
                "create_date": datetime(2026, 11, 1, 8, 0),
                "utc_offset_minutes": 0,
            }
        ],
    }
    bound, errs = run_prober(sqlserver_spec(), [{"commit_lsn": LSN}])
    assert errs == ()
    assert bound is not None and bound.basis == retention.SQLSERVER_CLEANUP
    assert (bound.lost, bound.checked, bound.reason) == (True, True, "CdcChangesPurged")
    assert "dbo_orders starts at LSN 0000002b:00000b00:0001" in bound.message
    # A loss read from the database wins over spec.source.retention.
    bound, errs = run_prober(sqlserver_spec("48h"), [{"commit_lsn": LSN}])
    assert bound is not None and bound.lost and bound.basis == retention.SQLSERVER_CLEANUP


def test_prober_checks_the_cleanup_from_the_recorded_server(server: RecordedServer) -> None:
    bound, errs = run_prober(sqlserver_spec(), [{"commit_lsn": LSN}])
    assert errs == () and bound is not None
    assert (bound.lost, bound.checked) == (False, True)
    assert bound.deadline == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


# --- the JobLoop hands the source connectors' last read offsets to the prober -----------


class FakeConnect:
    serves_offsets = True

    def __init__(self) -> None:
        self.answers: list[list[ConnectorState]] = []

    async def observe(
        self,
        names: list[str],
        *,
        with_offsets: bool,
        types: dict[str, str],
        in_rounds: bool = False,
    ) -> tuple[list[ConnectorState], list[Any]]:
        return self.answers.pop(0), []

    async def listing(self) -> dict[str, ConnectorState]:
        # The listing has no offsets.
        return {
            "src": ConnectorState(name="src", state="PAUSED", type="source"),
            "sink": ConnectorState(name="sink", state="PAUSED", type="sink"),
        }

    def from_listing(
        self, names: list[str], listed: dict[str, ConnectorState]
    ) -> tuple[list[ConnectorState], list[Any]]:
        return [listed[n] for n in names], []

    async def add_offsets(
        self, states: list[ConnectorState], *, in_rounds: bool = False
    ) -> tuple[list[ConnectorState], list[Any]]:
        return self.answers.pop(0), []


def test_job_loop_passes_the_last_read_offsets(monkeypatch: pytest.MonkeyPatch) -> None:
    connect = FakeConnect()

    async def connect_client(namespace: str, spec: jobspec.ConnectSpec) -> FakeConnect:
        return connect

    shared = Shared(kube=cast(Kube, SecretsOnly({"db": SECRET})), settings=Settings())
    monkeypatch.setattr(shared, "connect_client", connect_client)
    loop = JobLoop(shared=shared, namespace="ns", name="job", emit=lambda e: None)
    seen: list[list[Mapping[str, Any]]] = []

    async def current(**kwargs: Any) -> tuple[None, tuple[()]]:
        seen.append(list(kwargs["source_offsets"]))
        return None, ()

    monkeypatch.setattr(loop.prober, "current", current)
    spec = sqlserver_spec()
    previous = jobstatus.SyncJobStatus(
        phase="Paused", stage="CDC", paused_at="2026-11-24T10:00:00Z"
    )
    offsets = ({"commit_lsn": LSN},)
    connect.answers = [
        [
            ConnectorState(name="src", state="PAUSED", type="source", offsets=offsets),
            ConnectorState(name="sink", state="PAUSED", type="sink"),
        ],
        # The second pass reads none (paused in CDC: once is enough): the last read are kept.
    ]

    async def two_passes() -> None:
        for _ in range(2):
            await loop.observe(spec, previous)
            await loop._retention(spec, previous, PAUSED_AT + timedelta(hours=1))

    asyncio.run(two_passes())
    assert seen == [[{"commit_lsn": LSN}], [{"commit_lsn": LSN}]]
