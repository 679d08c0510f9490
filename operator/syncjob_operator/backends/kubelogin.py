"""Where the Kubernetes API server is and how to prove who we are: in-cluster or a kubeconfig.

Why this is ours and not a client library's: the generated Kubernetes
clients import a model class for every kind (~60 MiB of a process that needs
none of them; Kopf imports whichever is installed), and the operator only
makes raw REST calls.  What is read:

- in a Pod: the service account's token (read again every minute: projected
  tokens rotate), its CA, and ``KUBERNETES_SERVICE_HOST``/``_PORT``;
- otherwise ``$KUBECONFIG`` (a ``:``-separated list; the first file that
  names a context, cluster or user wins, as kubectl merges them) or
  ``~/.kube/config``: the current context's server, CA
  (``certificate-authority[-data]``, ``insecure-skip-tls-verify``,
  ``tls-server-name``) and user: a token or ``tokenFile``, a client
  certificate and key (file or data), a username and password, or an
  ``exec`` credential plugin (what EKS, GKE and AKS kubeconfigs use), whose
  token or certificate is kept until its ``expirationTimestamp`` or until the
  server answers 401.  ``auth-provider`` (removed from kubectl) is refused
  with a clear error.

Parsing is pure (:func:`from_kubeconfig`); :class:`Login` does the I/O (files,
the plugin's process) when asked for credentials.  No credential is ever
put in an error message.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# A projected token is rotated by the kubelet well before it expires; reading
# it again this often keeps a rotated one in use without a 401 first.
TOKEN_FILE_MAX_AGE_S = 60.0
EXEC_TIMEOUT_S = 60.0


class LoginError(Exception):
    """The kubeconfig or the service account cannot be used; the message says why."""


@dataclass(frozen=True)
class ExecPlugin:
    """A client-go credential plugin: a command printing an ExecCredential."""

    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    api_version: str = "client.authentication.k8s.io/v1"
    base_dir: Path = Path()


@dataclass(frozen=True)
class Source:
    """What one login is made of, as read from the config (nothing fetched yet)."""

    server: str
    ca_file: Path | None = None
    ca_data: bytes | None = None
    insecure: bool = False
    server_name: str | None = None
    token: str | None = None
    token_file: Path | None = None
    cert_file: Path | None = None
    cert_data: bytes | None = None
    key_file: Path | None = None
    key_data: bytes | None = None
    username: str | None = None
    password: str | None = None
    exec_plugin: ExecPlugin | None = None


def in_cluster(environ: Mapping[str, str], sa_dir: Path = SA_DIR) -> Source | None:
    """The service account's login, or None when not in a Pod."""
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port or not (sa_dir / "token").exists():
        return None
    if ":" in host:  # IPv6
        host = f"[{host}]"
    ca = sa_dir / "ca.crt"
    return Source(
        server=f"https://{host}:{port}",
        ca_file=ca if ca.exists() else None,
        token_file=sa_dir / "token",
    )


def kubeconfig_paths(environ: Mapping[str, str]) -> list[Path]:
    listed = [p for p in environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return [Path(p).expanduser() for p in listed] or [Path("~/.kube/config").expanduser()]


def from_kubeconfig(
    documents: Sequence[tuple[Path, Mapping[str, Any]]], context: str | None = None
) -> Source:
    """The login of ``context`` (default: the current one) in these parsed files, merged."""
    merged: dict[str, dict[str, tuple[Path, Mapping[str, Any]]]] = {
        "clusters": {},
        "users": {},
        "contexts": {},
    }
    current = context
    for path, doc in documents:
        for section, entries in merged.items():
            for entry in doc.get(section) or []:
                if isinstance(entry, Mapping) and entry.get("name") not in entries:
                    entries[str(entry.get("name"))] = (path.parent, entry)
        current = current or doc.get("current-context") or None
    if not current:
        raise LoginError("the kubeconfig has no current-context")
    if current not in merged["contexts"]:
        raise LoginError(f"the kubeconfig has no context {current!r}")
    ctx = merged["contexts"][current][1].get("context") or {}
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    if cluster_name not in merged["clusters"]:
        raise LoginError(f"context {current!r} names cluster {cluster_name!r}, which is not there")
    base, cluster_entry = merged["clusters"][cluster_name]
    cluster = cluster_entry.get("cluster") or {}
    user: Mapping[str, Any] = {}
    user_base = base
    if user_name:
        if user_name not in merged["users"]:
            raise LoginError(f"context {current!r} names user {user_name!r}, which is not there")
        user_base, user_entry = merged["users"][user_name]
        user = user_entry.get("user") or {}
    if "auth-provider" in user:
        raise LoginError(
            f"user {user_name!r} uses auth-provider, which kubectl no longer supports; "
            "use an exec credential plugin"
        )
    server = str(cluster.get("server") or "")
    if not server:
        raise LoginError(f"cluster {cluster_name!r} has no server")
    return Source(
        server=server.rstrip("/"),
        ca_file=_path(cluster.get("certificate-authority"), base),
        ca_data=_data(cluster.get("certificate-authority-data"), "certificate-authority-data"),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        server_name=cluster.get("tls-server-name") or None,
        token=user.get("token") or None,
        token_file=_path(user.get("tokenFile"), user_base),
        cert_file=_path(user.get("client-certificate"), user_base),
        cert_data=_data(user.get("client-certificate-data"), "client-certificate-data"),
        key_file=_path(user.get("client-key"), user_base),
        key_data=_data(user.get("client-key-data"), "client-key-data"),
        username=user.get("username") or None,
        password=user.get("password") or None,
        exec_plugin=_exec(user.get("exec"), user_base),
    )


def _path(value: Any, base: Path) -> Path | None:
    if not value:
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else base / path


def _data(value: Any, what: str) -> bytes | None:
    if not value:
        return None
    try:
        return base64.b64decode(str(value), validate=True)
    except ValueError:
        raise LoginError(f"{what} in the kubeconfig is not base64") from None


def _exec(value: Any, base: Path) -> ExecPlugin | None:
    if not value:
        return None
    if not isinstance(value, Mapping) or not value.get("command"):
        raise LoginError("the kubeconfig's exec plugin has no command")
    env = tuple((str(e["name"]), str(e["value"])) for e in value.get("env") or [])
    return ExecPlugin(
        command=str(value["command"]),
        args=tuple(str(a) for a in value.get("args") or []),
        env=env,
        api_version=str(value.get("apiVersion") or "client.authentication.k8s.io/v1"),
        base_dir=base,
    )


def load_source(environ: Mapping[str, str] | None = None, kubeconfig: Path | None = None) -> Source:
    """In a Pod, the service account; else the kubeconfig (``kubeconfig`` or $KUBECONFIG)."""
    env = os.environ if environ is None else environ
    if kubeconfig is None:
        found = in_cluster(env)
        if found is not None:
            return found
    paths = [kubeconfig] if kubeconfig is not None else kubeconfig_paths(env)
    documents = []
    for path in paths:
        if not path.exists():
            continue
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise LoginError(f"cannot read the kubeconfig {path}: {type(exc).__name__}") from None
        if isinstance(doc, Mapping):
            documents.append((path, doc))
    if not documents:
        raise LoginError(
            "not in a Pod and no kubeconfig found (looked at "
            + ", ".join(str(p) for p in paths)
            + ")"
        )
    return from_kubeconfig(documents)


@dataclass
class Credentials:
    """What goes with each request: a bearer token or basic auth, and the TLS context."""

    ssl: ssl.SSLContext | bool
    authorization: str | None = None
    # time.monotonic() after which these are fetched again (None: never).
    expires: float | None = None


@dataclass
class Login:
    """Credentials from a :class:`Source`, fetched when needed and kept while valid."""

    source: Source
    _current: Credentials | None = field(default=None, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def credentials(self) -> Credentials:
        async with self._lock:
            now = time.monotonic()
            if self._current is None or (
                self._current.expires is not None and now >= self._current.expires
            ):
                self._current = await self._fetch(now)
            return self._current

    def invalidate(self) -> None:
        """The server said 401: fetch afresh next time (a rotated token, an expired plugin's)."""
        self._current = None

    @property
    def refreshable(self) -> bool:
        s = self.source
        return s.token_file is not None or s.exec_plugin is not None

    async def _fetch(self, now: float) -> Credentials:
        s = self.source
        cert, key = s.cert_data, s.key_data
        authorization: str | None = None
        expires: float | None = None
        if s.exec_plugin is not None:
            token, cert, key, expires_at = await _run_plugin(s.exec_plugin, s.server)
            cert, key = cert or s.cert_data, key or s.key_data
            if token:
                authorization = f"Bearer {token}"
            if expires_at is not None:
                expires = now + max(0.0, (expires_at - datetime.now(UTC)).total_seconds() - 10)
        elif s.token_file is not None:
            try:
                authorization = f"Bearer {s.token_file.read_text().strip()}"
            except OSError as exc:
                raise LoginError(f"cannot read the token file {s.token_file}: {exc}") from None
            expires = now + TOKEN_FILE_MAX_AGE_S
        elif s.token:
            authorization = f"Bearer {s.token}"
        elif s.username is not None:
            pair = f"{s.username}:{s.password or ''}".encode()
            authorization = f"Basic {base64.b64encode(pair).decode()}"
        return Credentials(ssl=self._tls(cert, key), authorization=authorization, expires=expires)

    def _tls(self, cert_data: bytes | None, key_data: bytes | None) -> ssl.SSLContext | bool:
        s = self.source
        if not s.server.startswith("https://"):
            return False
        if s.insecure:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            try:
                context = ssl.create_default_context(
                    cafile=str(s.ca_file) if s.ca_file else None,
                    cadata=s.ca_data.decode() if s.ca_data else None,
                )
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise LoginError(f"cannot load the cluster's CA: {type(exc).__name__}") from None
        cert_file, key_file = s.cert_file, s.key_file
        try:
            if cert_data is not None or key_data is not None:
                # ssl loads a client certificate from files only: a private
                # temporary one, gone once loaded.
                with tempfile.TemporaryDirectory() as tmp:
                    pem = Path(tmp) / "client.pem"
                    pem.touch(mode=0o600)
                    pem.write_bytes((cert_data or b"") + b"\n" + (key_data or b""))
                    context.load_cert_chain(str(pem))
            elif cert_file is not None:
                context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise LoginError(
                f"cannot load the client certificate and key: {type(exc).__name__}"
            ) from None
        return context


async def _run_plugin(
    plugin: ExecPlugin, server: str
) -> tuple[str | None, bytes | None, bytes | None, datetime | None]:
    """Run a credential plugin: its token, certificate, key and expiry."""
    env = {**os.environ, **dict(plugin.env)}
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {
            "apiVersion": plugin.api_version,
            "kind": "ExecCredential",
            "spec": {"interactive": False, "cluster": {"server": server}},
        }
    )
    command = plugin.command
    if os.sep in command and not Path(command).is_absolute():
        command = str(plugin.base_dir / command)
    try:
        process = await asyncio.create_subprocess_exec(
            command,
            *plugin.args,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=EXEC_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise LoginError(
            f"the kubeconfig's exec plugin {plugin.command!r} could not run: {type(exc).__name__}"
        ) from None
    if process.returncode != 0:
        # Its own words (stderr), which plugins write for people, not secrets.
        tail = err.decode(errors="replace").strip()[-300:]
        raise LoginError(
            f"the kubeconfig's exec plugin {plugin.command!r} exited {process.returncode}: {tail}"
        )
    try:
        status = json.loads(out).get("status") or {}
    except (ValueError, AttributeError):
        raise LoginError(
            f"the kubeconfig's exec plugin {plugin.command!r} printed no ExecCredential"
        ) from None
    expiry = status.get("expirationTimestamp")
    expires_at = datetime.fromisoformat(expiry.replace("Z", "+00:00")) if expiry else None
    cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
    return (
        status.get("token") or None,
        cert.encode() if cert else None,
        key.encode() if key else None,
        expires_at,
    )
