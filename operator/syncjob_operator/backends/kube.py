"""A thin Kubernetes API adapter for what Kopf does not do for us.

Kopf watches SyncJobs and posts Events; this client patches SyncJob status,
scales workloads through their scale subresource, sets KafkaConnector state
and reads Secrets.  Raw paths over kubernetes_asyncio's ApiClient keep it
generic (any kind with a scale subresource) while reusing its kubeconfig and
in-cluster login, token refresh included.  Not-found and conflicts are turned
into return values and typed errors here, once; so is an API server that
cannot be reached (refused, reset, timed out: status 0), which the loop
retries like any other failed request.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.config_exception import ConfigException

MERGE_PATCH = "application/merge-patch+json"


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
    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._discovery: dict[tuple[str, str], Resource | None] = {}

    @classmethod
    async def connect(cls) -> Kube:
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        except ConfigException:
            await config.load_kube_config()
        return cls(client.ApiClient())

    async def close(self) -> None:
        await self._api.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        query: list[tuple[str, str]] | None = None,
    ) -> dict[str, Any]:
        try:
            result = await self._api.call_api(
                path,
                method,
                query_params=query or [],
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                body=body,
                response_types_map={200: "object", 201: "object"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _request_timeout=30,
            )
        except ApiException as exc:
            raise KubeError(exc.status or 0, _reason(exc)) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            # The connection, not the request: a restart or a cut of the API
            # server's connection.  Nothing about the object is known.
            raise KubeError(
                0, f"the Kubernetes API server could not be reached ({_transport(exc)})"
            ) from None
        return result if isinstance(result, dict) else {}

    async def list_objects(self, path: str) -> tuple[list[dict[str, Any]], str]:
        """A collection's items and the resourceVersion to watch it from."""
        body = await self.request("GET", path)
        items = [i for i in body.get("items") or [] if isinstance(i, dict)]
        return items, str((body.get("metadata") or {}).get("resourceVersion") or "")

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
            response = await self._api.call_api(
                path,
                "GET",
                query_params=query,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _preload_content=False,
                # No bound on the whole stream; one on silence (the server
                # sends bookmarks about every minute).
                _request_timeout=aiohttp.ClientTimeout(sock_connect=30, sock_read=timeout_s + 60),
            )
        except ApiException as exc:
            raise KubeError(exc.status or 0, _reason(exc)) from None
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

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        return await self.request("PATCH", path, body=patch, content_type=MERGE_PATCH)

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


def _reason(exc: ApiException) -> str:
    return _message(exc.body) or str(exc.reason)


def _message(body: Any) -> str:
    """The ``message`` of a Kubernetes Status body, if it is one."""
    try:
        parsed = json.loads(body or "{}")
    except (TypeError, ValueError):
        return ""
    return str(parsed.get("message") or "") if isinstance(parsed, dict) else ""
