"""The operator's own Kubernetes login against a real kube-apiserver.

The ways a kubeconfig proves who it is, each used for real requests: the
server's certificate verified against a CA (and refused against another),
a client certificate (data and files), an exec credential plugin (run once
while its token holds, again after a 401), and a token file rotated under a
running client.  A plane of its own, because client certificates need
``--client-ca-file``.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from syncjob_operator.backends.kube import Kube, KubeError
from tests.env import controlplane

pytestmark = pytest.mark.integration

NAMESPACES = "/api/v1/namespaces"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str, org: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(parts)


def _cert(
    subject: x509.Name, key: Any, issuer: x509.Name, issuer_key: Any, *, ca: bool
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def _pem(obj: Any) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return bytes(
        obj.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


class Plane:
    def __init__(self, cp: controlplane.ControlPlane, client_cert: bytes, client_key: bytes):
        self.cp = cp
        self.client_cert = client_cert
        self.client_key = client_key

    @property
    def ca(self) -> Path:
        # The API server's self-signed serving certificate, with the CA that signed it.
        return self.cp.state / "certs" / "apiserver.crt"

    def kubeconfig(self, path: Path, user: dict[str, Any], **cluster: Any) -> Path:
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "c",
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
            "clusters": [{"name": "k", "cluster": {"server": self.cp.server, **cluster}}],
            "users": [{"name": "u", "user": user}],
        }
        path.write_text(yaml.safe_dump(doc))
        return path


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    tmp = tmp_path_factory.mktemp("kube-login")
    ca_key = _key()
    ca = _cert(_name("client-ca"), ca_key, _name("client-ca"), ca_key, ca=True)
    (tmp / "client-ca.crt").write_bytes(_pem(ca))
    user_key = _key()
    # O=system:masters: the group the API server lets do everything.
    user = _cert(
        _name("cert-user", "system:masters"), user_key, _name("client-ca"), ca_key, ca=False
    )
    cp = controlplane.ControlPlane(
        state=tmp / "controlplane", apiserver_args=(f"--client-ca-file={tmp / 'client-ca.crt'}",)
    )
    controlplane.build()
    cp.start()
    try:
        yield Plane(cp, _pem(user), _pem(user_key))
    finally:
        cp.stop()


def _names(kubeconfig: Path, times: int = 1) -> list[str]:
    """Read the namespaces ``times`` times through one client, as the operator would."""

    async def go() -> list[str]:
        kube = await Kube.connect(kubeconfig)
        try:
            names: list[str] = []
            for _ in range(times):
                body = await kube.request("GET", NAMESPACES)
                names = [i["metadata"]["name"] for i in body["items"]]
            return names
        finally:
            await kube.close()

    return asyncio.run(go())


def test_the_servers_certificate_is_verified_against_the_ca(plane: Plane, tmp_path: Path) -> None:
    token = {"token": controlplane.ADMIN_TOKEN}
    good = plane.kubeconfig(tmp_path / "good", token, **{"certificate-authority": str(plane.ca)})
    assert "kube-system" in _names(good)
    data = plane.kubeconfig(
        tmp_path / "data",
        token,
        **{"certificate-authority-data": base64.b64encode(plane.ca.read_bytes()).decode()},
    )
    assert "kube-system" in _names(data)
    other_key = _key()
    other = _cert(_name("other"), other_key, _name("other"), other_key, ca=True)
    wrong = plane.kubeconfig(
        tmp_path / "wrong",
        token,
        **{"certificate-authority-data": base64.b64encode(_pem(other)).decode()},
    )
    with pytest.raises(KubeError) as caught:
        _names(wrong)
    assert caught.value.status == 0
    assert controlplane.ADMIN_TOKEN not in caught.value.message


def test_tls_server_name_is_the_name_checked(plane: Plane, tmp_path: Path) -> None:
    """127.0.0.1 is in the certificate, so only the name given can make it fail."""
    token = {"token": controlplane.ADMIN_TOKEN}
    ca = {"certificate-authority": str(plane.ca)}
    named = plane.kubeconfig(tmp_path / "named", token, **ca, **{"tls-server-name": "kubernetes"})
    assert "kube-system" in _names(named)
    wrong = plane.kubeconfig(
        tmp_path / "wrong", token, **ca, **{"tls-server-name": "not-the-api.example"}
    )
    with pytest.raises(KubeError) as caught:
        _names(wrong)
    assert caught.value.status == 0


@pytest.mark.parametrize("form", ["data", "files"])
def test_a_client_certificate_logs_in(plane: Plane, tmp_path: Path, form: str) -> None:
    if form == "data":
        user = {
            "client-certificate-data": base64.b64encode(plane.client_cert).decode(),
            "client-key-data": base64.b64encode(plane.client_key).decode(),
        }
    else:
        (tmp_path / "u.crt").write_bytes(plane.client_cert)
        (tmp_path / "u.key").write_bytes(plane.client_key)
        # Relative to the kubeconfig, as kubectl reads them.
        user = {"client-certificate": "u.crt", "client-key": "u.key"}
    config = plane.kubeconfig(tmp_path / "config", user, **{"certificate-authority": str(plane.ca)})
    assert "kube-system" in _names(config)
    # Without the certificate the same server says who we are not.
    anonymous = plane.kubeconfig(tmp_path / "anon", {}, **{"certificate-authority": str(plane.ca)})
    with pytest.raises(KubeError) as caught:
        _names(anonymous)
    assert caught.value.status in (401, 403)


def _plugin(tmp_path: Path, tokens: list[str]) -> tuple[Path, Path]:
    """A credential plugin printing ``tokens`` one call after another (the last one then on)."""
    calls = tmp_path / "calls"
    calls.write_text("0")
    script = tmp_path / "plugin.py"
    script.write_text(
        "import json, sys\n"
        f"calls = {str(calls)!r}\n"
        f"tokens = {tokens!r}\n"
        "n = int(open(calls).read())\n"
        "open(calls, 'w').write(str(n + 1))\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1',"
        " 'kind': 'ExecCredential', 'status': {'token': tokens[min(n, len(tokens) - 1)]}}))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, calls


def test_an_exec_plugin_runs_once_while_its_token_holds(plane: Plane, tmp_path: Path) -> None:
    import sys

    script, calls = _plugin(tmp_path, [controlplane.ADMIN_TOKEN])
    exec_ = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": sys.executable,
        "args": [str(script)],
    }
    config = plane.kubeconfig(
        tmp_path / "config", {"exec": exec_}, **{"insecure-skip-tls-verify": True}
    )
    assert "kube-system" in _names(config, times=5)
    assert calls.read_text() == "1"


def test_a_401_runs_the_plugin_again(plane: Plane, tmp_path: Path) -> None:
    import sys

    # The first token is refused (expired, say); the plugin's next one is good.
    script, calls = _plugin(tmp_path, ["expired", controlplane.ADMIN_TOKEN])
    exec_ = {"command": sys.executable, "args": [str(script)]}
    config = plane.kubeconfig(
        tmp_path / "config", {"exec": exec_}, **{"insecure-skip-tls-verify": True}
    )
    assert "kube-system" in _names(config, times=3)
    assert calls.read_text() == "2"


def test_a_failing_plugin_is_a_clear_error(plane: Plane, tmp_path: Path) -> None:
    exec_ = {"command": "/bin/sh", "args": ["-c", "echo 'log in with sso first' >&2; exit 3"]}
    config = plane.kubeconfig(
        tmp_path / "config", {"exec": exec_}, **{"insecure-skip-tls-verify": True}
    )
    with pytest.raises(KubeError, match="exited 3: log in with sso first"):
        _names(config)


def test_a_rotated_token_file_is_picked_up_after_a_401(plane: Plane, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("not-yet-valid")
    config = plane.kubeconfig(
        tmp_path / "config", {"tokenFile": str(token_file)}, **{"insecure-skip-tls-verify": True}
    )

    async def go() -> int:
        kube = await Kube.connect(config)
        try:
            with pytest.raises(KubeError) as caught:
                await kube.request("GET", NAMESPACES)
            assert caught.value.status == 401
            token_file.write_text(controlplane.ADMIN_TOKEN)  # the kubelet rotates it
            body = await kube.request("GET", NAMESPACES)
            return len(body["items"])
        finally:
            await kube.close()

    assert asyncio.run(go()) > 0


def test_the_token_never_reaches_an_error(plane: Plane, tmp_path: Path) -> None:
    config = plane.kubeconfig(
        tmp_path / "config", {"token": "wrong-secret-token"}, **{"insecure-skip-tls-verify": True}
    )
    with pytest.raises(KubeError) as caught:
        _names(config)
    assert caught.value.status == 401
    assert "wrong-secret-token" not in str(caught.value)
