"""Where and how to reach the source database: its connection Secret, parsed.

Why this exists: every database probe needs host, port, user, password and TLS
settings, and users write them into a Secret in one of two shapes (a ``uri``,
or one key per part).  Reading that shape is an adapter's job, done once here
for all the probes.  Oracle is not here: its retention is never read from the
database (spec.source.retention is required for it), so its Secret is never
read.  Messages and reprs never contain a password.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from syncjob_operator.api import jobspec

_DEFAULT_PORTS: dict[str, int] = {
    "postgresql": 5432,
    "mysql": 3306,
    "mariadb": 3306,
    "sqlserver": 1433,
}
_URI_SCHEMES: dict[str, tuple[str, ...]] = {
    "postgresql": ("postgresql", "postgres"),
    "mysql": ("mysql", "mariadb"),
    "mariadb": ("mariadb", "mysql"),
    "sqlserver": ("sqlserver", "mssql"),
}


@dataclass(frozen=True)
class SourceConnection:
    """Where and how to reach the source database, read from its connection Secret.

    The password is kept out of ``repr`` (and so out of logs and tracebacks).
    """

    source_type: jobspec.SourceType
    host: str
    port: int
    user: str
    password: str | None = field(default=None, repr=False)
    dbname: str | None = None
    sslmode: str | None = None
    ca_cert: str | None = field(default=None, repr=False)  # PEM text of ca.crt

    @classmethod
    def from_secret(
        cls, data: Mapping[str, str], *, source_type: jobspec.SourceType
    ) -> SourceConnection:
        """Parse decoded Secret data.

        Either key ``uri``, or host, port, dbname|database, user|username,
        password; optional ``sslmode`` and ``ca.crt``. Raises ValueError
        naming the missing or bad key, never echoing a value.
        """
        if source_type not in _DEFAULT_PORTS:
            raise ValueError(f"unknown source type {source_type!r}")
        ca_cert = data.get("ca.crt") or None
        sslmode = data.get("sslmode") or None
        if data.get("uri"):
            return cls._from_uri(data["uri"], source_type, sslmode=sslmode, ca_cert=ca_cert)

        def first(*keys: str) -> str | None:
            for key in keys:
                value = data.get(key)
                if value:
                    return value.strip() if key != "password" else value
            return None

        host = first("host", "hostname")
        if host is None:
            raise ValueError("connection Secret lacks key 'host' (or 'uri')")
        user = first("user", "username")
        if user is None:
            raise ValueError("connection Secret lacks key 'user' (or 'username')")
        port_text = first("port")
        port = _parse_port(port_text, "port") if port_text else _DEFAULT_PORTS[source_type]
        dbname = first("dbname", "database")
        if dbname is None and source_type in ("postgresql", "sqlserver"):
            raise ValueError("connection Secret lacks key 'dbname' (or 'database')")
        return cls(
            source_type=source_type,
            host=host,
            port=port,
            user=user,
            password=first("password"),
            dbname=dbname,
            sslmode=sslmode,
            ca_cert=ca_cert,
        )

    @classmethod
    def _from_uri(
        cls, uri: str, source_type: jobspec.SourceType, *, sslmode: str | None, ca_cert: str | None
    ) -> SourceConnection:
        try:
            parts = urlsplit(uri.strip())
            port = parts.port
        except ValueError:
            raise ValueError("connection Secret key 'uri' is not a valid URI") from None
        if parts.scheme not in _URI_SCHEMES[source_type]:
            allowed = " or ".join(f"{s}://" for s in _URI_SCHEMES[source_type])
            raise ValueError(f"connection Secret key 'uri' must start with {allowed}")
        if not parts.hostname:
            raise ValueError("connection Secret key 'uri' has no host")
        if not parts.username:
            raise ValueError("connection Secret key 'uri' has no user")
        query = parse_qs(parts.query)
        dbname = unquote(parts.path.lstrip("/")) or None
        if dbname is None and "dbname" in query:
            dbname = query["dbname"][0]
        if dbname is None and source_type == "postgresql":
            raise ValueError("connection Secret key 'uri' has no database name")
        return cls(
            source_type=source_type,
            host=parts.hostname,
            port=port or _DEFAULT_PORTS[source_type],
            user=unquote(parts.username),
            password=unquote(parts.password) if parts.password is not None else None,
            dbname=dbname,
            sslmode=sslmode or (query["sslmode"][0] if "sslmode" in query else None),
            ca_cert=ca_cert,
        )

    @property
    def address(self) -> str:
        """host:port, for messages."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def redact(self, text: str) -> str:
        """``text`` with the password (if it occurs) replaced: for driver error messages."""
        if self.password and len(self.password) >= 3:
            return text.replace(self.password, "***")
        return text


def _parse_port(text: str, key: str) -> int:
    try:
        port = int(text.strip())
    except ValueError:
        raise ValueError(f"connection Secret key {key!r} is not a number") from None
    if not 0 < port < 65536:
        raise ValueError(f"connection Secret key {key!r} is out of range 1-65535")
    return port
