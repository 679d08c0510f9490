"""Connection Secrets: both shapes parsed, errors that name the key and never the password."""

from __future__ import annotations

import pytest

from syncjob_operator.api import jobspec
from syncjob_operator.probes.connection import SourceConnection

PASSWORD = "s3cr3t-Pa55"


@pytest.mark.parametrize(
    ("source_type", "data", "expected"),
    [
        (
            "postgresql",
            {
                "host": "db.sales",
                "port": "5433",
                "dbname": "orders",
                "user": "probe",
                "password": PASSWORD,
            },
            ("db.sales", 5433, "probe", "orders", None),
        ),
        (
            "postgresql",
            {
                "host": "db",
                "database": "orders",
                "username": "probe",
                "password": PASSWORD,
                "sslmode": "verify-full",
            },
            ("db", 5432, "probe", "orders", "verify-full"),
        ),
        (
            "postgresql",
            {"uri": f"postgresql://probe:{PASSWORD}@db.sales:6432/orders?sslmode=require"},
            ("db.sales", 6432, "probe", "orders", "require"),
        ),
        (
            "postgresql",
            {"uri": "postgres://pro%40be:p%2Fw@[::1]/orders"},
            ("::1", 5432, "pro@be", "orders", None),
        ),
        (
            "mysql",
            {"host": "m", "user": "root", "password": PASSWORD},
            ("m", 3306, "root", None, None),
        ),
        ("mariadb", {"uri": f"mariadb://root:{PASSWORD}@m:3307"}, ("m", 3307, "root", None, None)),
        ("mariadb", {"uri": f"mysql://root:{PASSWORD}@m/app"}, ("m", 3306, "root", "app", None)),
        (
            "sqlserver",
            {"host": "s", "dbname": "sales", "user": "sa", "password": PASSWORD},
            ("s", 1433, "sa", "sales", None),
        ),
    ],
)
def test_source_connection_from_secret(
    source_type: jobspec.SourceType,
    data: dict[str, str],
    expected: tuple[str, int, str, str | None, str | None],
) -> None:
    conn = SourceConnection.from_secret(data, source_type=source_type)
    assert (conn.host, conn.port, conn.user, conn.dbname, conn.sslmode) == expected
    assert PASSWORD not in repr(conn) and PASSWORD not in str(conn)


def test_source_connection_keeps_the_password_and_ca() -> None:
    conn = SourceConnection.from_secret(
        {"uri": "postgresql://u:p%2Fw@h/db", "ca.crt": "-----BEGIN CERTIFICATE-----"},
        source_type="postgresql",
    )
    assert conn.password == "p/w"
    assert conn.ca_cert == "-----BEGIN CERTIFICATE-----"
    assert "CERTIFICATE" not in repr(conn)
    assert conn.redact("FATAL: bad p/w here") == "FATAL: bad *** here"


@pytest.mark.parametrize(
    ("source_type", "data", "message"),
    [
        ("postgresql", {"user": "u", "dbname": "d", "password": PASSWORD}, "'host'"),
        ("postgresql", {"host": "h", "dbname": "d", "password": PASSWORD}, "'user'"),
        ("postgresql", {"host": "h", "user": "u", "password": PASSWORD}, "'dbname'"),
        (
            "postgresql",
            {"host": "h", "user": "u", "dbname": "d", "port": "54x"},
            "'port' is not a number",
        ),
        (
            "postgresql",
            {"host": "h", "user": "u", "dbname": "d", "port": "70000"},
            "'port' is out of range",
        ),
        ("postgresql", {"uri": f"mysql://u:{PASSWORD}@h/d"}, "must start with postgresql://"),
        ("postgresql", {"uri": f"postgresql://u:{PASSWORD}@h"}, "no database"),
        ("postgresql", {"uri": f"postgresql://:{PASSWORD}@h/d"}, "no user"),
        ("postgresql", {"uri": f"postgresql://u:{PASSWORD}@h:99999/d"}, "not a valid URI"),
        ("mysql", {"uri": f"postgresql://u:{PASSWORD}@h/d"}, "mysql:// or mariadb://"),
        ("mysql", {}, "'host'"),
    ],
)
def test_source_connection_errors_name_the_key_not_the_password(
    source_type: jobspec.SourceType, data: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as info:
        SourceConnection.from_secret(data, source_type=source_type)
    assert PASSWORD not in str(info.value)
