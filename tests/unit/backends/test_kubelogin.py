"""Reading a login from a kubeconfig or a Pod's service account: a table of configs.

The requests made with these logins, against a real API server (CA
verified, client certificates, an exec plugin, a 401 that refreshes), are in
tests/integration/test_kube_login.py.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from syncjob_operator.backends.kubelogin import (
    ExecPlugin,
    LoginError,
    Source,
    from_kubeconfig,
    in_cluster,
    kubeconfig_paths,
)

HERE = Path("/home/u/.kube")


def config(user: dict[str, Any], cluster: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "ns"}}],
        "clusters": [{"name": "k", "cluster": cluster or {"server": "https://k:6443/"}}],
        "users": [{"name": "u", "user": user}],
    }


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("user", "cluster", "expected"),
    [
        (
            {"token": "t"},
            None,
            Source(server="https://k:6443", token="t"),
        ),
        (
            {"tokenFile": "tok"},
            {"server": "https://k", "certificate-authority": "ca.crt"},
            Source(server="https://k", ca_file=HERE / "ca.crt", token_file=HERE / "tok"),
        ),
        (
            {"client-certificate-data": b64("CERT"), "client-key-data": b64("KEY")},
            {"server": "https://k", "certificate-authority-data": b64("CA")},
            Source(
                server="https://k",
                ca_data=b"CA",
                cert_data=b"CERT",
                key_data=b"KEY",
            ),
        ),
        (
            {"client-certificate": "/abs/c.crt", "client-key": "k.key"},
            {"server": "https://k", "insecure-skip-tls-verify": True, "tls-server-name": "api"},
            Source(
                server="https://k",
                insecure=True,
                server_name="api",
                cert_file=Path("/abs/c.crt"),
                key_file=HERE / "k.key",
            ),
        ),
        (
            {"username": "admin", "password": "pw"},
            None,
            Source(server="https://k:6443", username="admin", password="pw"),
        ),
        (
            {
                "exec": {
                    "apiVersion": "client.authentication.k8s.io/v1beta1",
                    "command": "aws",
                    "args": ["eks", "get-token"],
                    "env": [{"name": "AWS_PROFILE", "value": "p"}],
                }
            },
            None,
            Source(
                server="https://k:6443",
                exec_plugin=ExecPlugin(
                    command="aws",
                    args=("eks", "get-token"),
                    env=(("AWS_PROFILE", "p"),),
                    api_version="client.authentication.k8s.io/v1beta1",
                    base_dir=HERE,
                ),
            ),
        ),
    ],
    ids=["token", "token-file-and-ca-file", "cert-data", "cert-files", "basic", "exec"],
)
def test_a_kubeconfig_user_and_cluster(
    user: dict[str, Any], cluster: dict[str, Any] | None, expected: Source
) -> None:
    assert from_kubeconfig([(HERE / "config", config(user, cluster))]) == expected


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({**config({"token": "t"}), "current-context": ""}, "no current-context"),
        ({**config({"token": "t"}), "current-context": "other"}, "no context 'other'"),
        ({**config({"token": "t"}), "clusters": []}, "names cluster 'k'"),
        ({**config({"token": "t"}), "users": []}, "names user 'u'"),
        (config({"token": "t"}, {"server": ""}), "has no server"),
        (config({"auth-provider": {"name": "gcp"}}), "auth-provider"),
        (config({"exec": {"args": ["x"]}}), "has no command"),
        (config({"client-key-data": "not base64!"}), "client-key-data"),
    ],
    ids=[
        "no-current",
        "unknown-context",
        "unknown-cluster",
        "unknown-user",
        "no-server",
        "auth-provider",
        "exec-without-command",
        "bad-base64",
    ],
)
def test_an_unusable_kubeconfig_says_why(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(LoginError, match=message) as caught:
        from_kubeconfig([(HERE / "config", doc)])
    # Never the credential itself.
    assert "not base64!" not in str(caught.value)


def test_merged_files_first_definition_wins() -> None:
    first = {"current-context": "c", "users": [{"name": "u", "user": {"token": "first"}}]}
    second = {**config({"token": "second"}), "current-context": "ignored"}
    got = from_kubeconfig([(Path("/a/config"), first), (HERE / "config", second)])
    assert got.token == "first"
    assert got.server == "https://k:6443"


def test_an_explicit_context_overrides_the_current_one() -> None:
    doc = config({"token": "t"})
    doc["contexts"].append({"name": "d", "context": {"cluster": "k"}})
    assert from_kubeconfig([(HERE / "config", doc)], context="d") == Source(server="https://k:6443")


def test_kubeconfig_paths() -> None:
    assert kubeconfig_paths({"KUBECONFIG": "/a:/b"}) == [Path("/a"), Path("/b")]
    assert kubeconfig_paths({}) == [Path("~/.kube/config").expanduser()]


def test_in_cluster(tmp_path: Path) -> None:
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    assert in_cluster(env, tmp_path) is None  # no token: not in a Pod
    (tmp_path / "token").write_text("t")
    (tmp_path / "ca.crt").write_text("CA")
    assert in_cluster(env, tmp_path) == Source(
        server="https://[fd00::1]:443",
        ca_file=tmp_path / "ca.crt",
        token_file=tmp_path / "token",
    )
    assert in_cluster({}, tmp_path) is None
