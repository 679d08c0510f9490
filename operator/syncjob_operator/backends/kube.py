"""A thin Kubernetes API adapter for what Kopf does not do for us.

Kopf watches SyncJobs and posts Events; this client patches SyncJob status,
scales workloads through their scale subresource, sets KafkaConnector state
and reads Secrets.  Raw REST paths over one aiohttp session keep it generic
(any kind with a scale subresource) and small: the login (in-cluster or a
kubeconfig, token refresh included) is :mod:`.kubelogin`.  Not-found and
conflicts are turned into return values and typed errors here, once; so is
an API server that cannot be reached (refused, reset, timed out: status 0),
which the loop retries like any other failed request.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from syncjob_operator.backends.kubelogin import Login, LoginError, load_source

MERGE_PATCH = "application/merge-patch+json"
# Objects per page of a list (see Kube.list_objects).
LIST_PAGE = 250


class KubeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API, and whether it can be scaled."""

    group_version: str
    plural: str
    namespaced: bool
    has_scale: bool

    def path(self, namespace: str, name: str, subresource: str = "") -> str:
        sub = f"/{subresource}" if subresource else ""
        return f"{self.collection(namespace)}/{name}{sub}"

    def collection(self, namespace: str) -> str:
        """The path of this kind's objects in ``namespace`` (to list and watch)."""
        base = "/api/v1" if "/" not in self.group_version else f"/apis/{self.group_version}"
        ns = f"/namespaces/{namespace}" if self.namespaced else ""
        return f"{base}{ns}/{self.plural}"


class Kube:
    def __init__(self, login: Login, *, request_timeout_s: float = 30.0) -> None:
        self._login = login
        self._server = login.source.server
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        # Created on first use, inside the running event loop.
        self._session: aiohttp.ClientSession | None = None
        self._discovery: dict[tuple[str, str], Resource | None] = {}

    @classmethod
    async def connect(cls, kubeconfig: Path | None = None) -> Kube:
        """In a Pod, as its service account; else as the kubeconfig's current context.

        Fails at once (KubeError, status 0) on a login that cannot be used,
        so the operator stops with the reason instead of failing every pass.
        """
        try:
            login = Login(load_source(kubeconfig=kubeconfig))
            await login.credentials()
        except LoginError as exc:
            raise KubeError(0, str(exc)) from None
        return cls(login)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _send(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        query: list[tuple[str, str]] | None,
        data: bytes | None,
        bound: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        """One request with the login's credentials; once more, afresh, after a 401."""
        if self._session is None:
            # The server's default of 100 connections; a thousand jobs share them.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100), raise_for_status=False
            )
        for attempt in (1, 2):
            try:
                creds = await self._login.credentials()
            except LoginError as exc:
                raise KubeError(401, str(exc)) from None
            sent = dict(headers)
            if creds.authorization:
                sent["Authorization"] = creds.authorization
            response = await self._session.request(
                method,
                self._server + path,
                params=query,
                data=data,
                headers=sent,
                ssl=creds.ssl,
                # tls-server-name: the name the certificate is checked against.
                server_hostname=self._login.source.server_name,
                timeout=bound,
            )
            if response.status == 401 and attempt == 1 and self._login.refreshable:
                response.release()
                self._login.invalidate()
                continue
            return response
        raise AssertionError("unreachable")

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        query: list[tuple[str, str]] | None = None,
        answer: bool = True,
    ) -> dict[str, Any]:
        """The answer's JSON object; with ``answer`` False, {} (the body is drained, not read).

        A write's answer is the whole object (managedFields and all, ~20 KiB
        for a SyncJob): decoding a thousand that nobody reads is churn the
        heap keeps (see heap.py).
        """
        data = None if body is None else json.dumps(body).encode()
        try:
            response = await self._send(
                method,
                path,
                headers={"Content-Type": content_type, "Accept": "application/json"},
                query=query,
                data=data,
                bound=self._timeout,
            )
            async with response:
                if response.status < 400 and not answer:
                    await response.read()  # drained, so the connection is reused
                    return {}
                text = await response.text()
        except (TimeoutError, aiohttp.ClientError) as exc:
            # The connection, not the request: a restart or a cut of the API
            # server's connection.  Nothing about the object is known.
            raise KubeError(
                0, f"the Kubernetes API server could not be reached ({_transport(exc)})"
            ) from None
        if response.status >= 400:
            raise KubeError(response.status, _message(text) or str(response.reason))
        try:
            result = json.loads(text) if text else {}
        except ValueError:
            raise KubeError(response.status, "the API server answered no JSON") from None
        return result if isinstance(result, dict) else {}

    async def list_objects(
        self,
        path: str,
        *,
        shape: Callable[[dict[str, Any]], dict[str, Any]] = lambda obj: obj,
        page: int = LIST_PAGE,
    ) -> tuple[list[dict[str, Any]], str]:
        """A collection's items, each passed through ``shape``, and the version to watch from.

        Read ``page`` objects at a time (``limit`` and ``continue``), each
        page shaped before the next is read: a thousand Deployments in one
        answer are ~10 MiB of JSON decoded at once, at start-up, when every
        job takes its first pass too.  A continue token that expired
        mid-way is a 410, as for a watch: the caller lists again.
        """
        items: list[dict[str, Any]] = []
        token, version = "", ""
        while True:
            query = [("limit", str(page))] + ([("continue", token)] if token else [])
            body = await self.request("GET", path, query=query)
            items += [shape(i) for i in body.get("items") or [] if isinstance(i, dict)]
            metadata = body.get("metadata") or {}
            version = str(metadata.get("resourceVersion") or version)
            token = str(metadata.get("continue") or "")
            if not token:
                return items, version

    async def watch(
        self, path: str, resource_version: str, *, timeout_s: int
    ) -> AsyncIterator[dict[str, Any]]:
        """A collection's watch events from ``resource_version``, bookmarks included.

        The server ends the watch after ``timeout_s`` (the caller watches again
        from the last version seen).  An ERROR event becomes a KubeError with
        its code: 410 Gone when the version is too old to resume from.
        """
        query = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_s)),
        ]
        try:
            response = await self._send(
                "GET",
                path,
                headers={"Accept": "application/json"},
                query=query,
                data=None,
                # No bound on the whole stream; one on silence (the server
                # sends bookmarks about every minute).
                bound=aiohttp.ClientTimeout(sock_connect=30, sock_read=timeout_s + 60),
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KubeError(0, f"watch of {path} failed: {type(exc).__name__}") from None
        try:
            if response.status != 200:
                text = await response.text()
                raise KubeError(response.status, _message(text) or str(response.reason))
            while True:
                try:
                    line = await response.content.readline()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    raise KubeError(0, f"watch of {path} broke: {type(exc).__name__}") from None
                if not line:
                    return
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    raise KubeError(int(status.get("code") or 0), str(status.get("message")))
                yield event
        finally:
            response.release()

    async def get(self, path: str) -> dict[str, Any] | None:
        try:
            return await self.request("GET", path)
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> None:
        """A JSON merge patch; its answer (the patched object) is not read."""
        await self.request("PATCH", path, body=patch, content_type=MERGE_PATCH, answer=False)

    async def discover(self, api_version: str, kind: str) -> Resource | None:
        """The resource for a kind (None if the API server does not serve it)."""
        key = (api_version, kind)
        if key not in self._discovery:
            base = "/api/v1" if "/" not in api_version else f"/apis/{api_version}"
            listing = await self.get(base)
            found: Resource | None = None
            if listing is not None:
                names = {r["name"] for r in listing.get("resources", [])}
                for r in listing.get("resources", []):
                    if r.get("kind") == kind and "/" not in r["name"]:
                        found = Resource(
                            group_version=api_version,
                            plural=r["name"],
                            namespaced=bool(r.get("namespaced")),
                            has_scale=f"{r['name']}/scale" in names,
                        )
                        break
            self._discovery[key] = found
        return self._discovery[key]

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        secret = await self.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
        if secret is None:
            return None
        data = secret.get("data") or {}
        out = {k: base64.b64decode(v).decode() for k, v in data.items()}
        out.update(secret.get("stringData") or {})
        return out


def _transport(exc: BaseException) -> str:
    """What broke, in words (aiohttp's messages name the host, never a credential)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def _message(body: Any) -> str:
    """The ``message`` of a Kubernetes Status body, if it is one."""
    try:
        parsed = json.loads(body or "{}")
    except (TypeError, ValueError):
        return ""
    return str(parsed.get("message") or "") if isinstance(parsed, dict) else ""
