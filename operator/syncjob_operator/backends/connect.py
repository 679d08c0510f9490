"""The Kafka Connect REST adapter: observe connectors, ask them to pause, stop or resume.

Thin on purpose: it turns HTTP into :mod:`syncjob_operator.decide.observed`
values and typed errors, and nothing else; what to ask, and when a pause is
done, is decided elsewhere.  Facts it relies on (Apache Kafka's
``ConnectorsResource``): pause/resume answer 202 and act later, stop (3.5+)
answers 204; a 409 means a rebalance is under way; 404 an unknown connector;
``GET /connectors/{n}/offsets`` (3.5+) serves the committed offsets; an older
Connect answers 404 (no such resource) or 405 there, and the client remembers
that it serves none.  ``GET /connectors?expand=status`` (2.3+, KIP-465)
answers every connector's status, type included, in one request: what a
converged job is observed from (:meth:`ConnectClient.listing`), shared by all
the jobs of the cluster; the offsets have no such expansion.  Not
``expand=info`` as well: it adds every connector's config, and measured on
a worker of 200 connectors it made a listing cost the worker 38-60 ms of
CPU instead of 5-6 (tests/bench/test_connect_cost_bench.py).

``GET /offsets`` and the PUTs of a crowd (the caller says when: ``in_rounds``)
go in rounds (:mod:`.rounds`), ``ROUND_SPACING`` apart, which halves what
they cost the worker in a storm.

Credentials come from a Secret (basic, bearer, CA bundle) and are never put
into a message: errors carry the status and Connect's own message only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import aiohttp

from syncjob_operator.backends.connector_status import (
    connector_state_from_status,
    connector_states_from_listing,
)
from syncjob_operator.backends.rounds import Rounds
from syncjob_operator.decide.observed import (
    NOT_FOUND,
    PAUSED,
    RUNNING,
    STOPPED,
    BackendError,
    ConnectorState,
)
from syncjob_operator.decide.plan import ConnectTarget

# How far apart a crowd's offsets reads, and its PUTs, start (see rounds.py):
# a pause storm's requests wait up to this long, a lone job's not at all.
# Measured on 200 connectors (the scale bench), the pause storm against its
# floor: 1.23x with rounds 0.1 s apart, 1.09x 0.2 s apart (1.40-1.61x without).
ROUND_SPACING = 0.2

_VERB: dict[ConnectTarget, str] = {PAUSED: "pause", STOPPED: "stop", RUNNING: "resume"}


class ConnectError(Exception):
    """A request to Connect failed; ``error`` says how, fit for a condition."""

    def __init__(self, error: BackendError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class ConnectAuth:
    """Credentials read from spec.connect.authSecretRef.  repr hides them."""

    username: str | None = None
    password: str | None = None
    token: str | None = None
    ca_pem: str | None = None

    def __repr__(self) -> str:
        kinds = [k for k in ("username", "token", "ca_pem") if getattr(self, k)]
        return f"ConnectAuth({', '.join(kinds) or 'none'})"

    @classmethod
    def from_secret(cls, data: Mapping[str, str]) -> ConnectAuth:
        token = data.get("token")
        username = data.get("username")
        password = data.get("password")
        if username is not None and password is None:
            raise ValueError("the Connect auth Secret has key username but no key password")
        if not (token or username or data.get("ca.crt")):
            raise ValueError(
                "the Connect auth Secret needs keys username and password, or token, or ca.crt"
            )
        return cls(username=username, password=password, token=token, ca_pem=data.get("ca.crt"))


def _error(reason: str, message: str, *, transient: bool, subject: str = "") -> ConnectError:
    return ConnectError(BackendError("connect", reason, message, transient, subject))


# Connections to one Connect cluster (and requests in flight to it).
POOL = 16


@dataclass(frozen=True)
class Answer:
    """Connect's answer to one request, read whole: its status code and body."""

    status_code: int
    body: bytes
    reason_phrase: str

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class ConnectClient:
    """One Connect cluster.  Keeps its HTTP connections alive between reconciles.

    On aiohttp, not httpx: measured against the same local server, httpx cost
    the operator 1.8-2.0 ms of CPU per request and aiohttp 0.11 ms, and a
    storm of 200 connectors makes ~500 requests on one event loop.
    """

    def __init__(self, url: str, *, auth: ConnectAuth | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        # False once Connect said it has no GET /connectors/{n}/offsets (older than 3.5).
        self.serves_offsets = True
        # Requests in a row that found no connection free within the timeout.
        # A client whose connections all stay taken while the server answers
        # others is poisoned: the owner replaces it (controller.shared).
        self.pool_stalls = 0
        self._headers = {"Accept": "application/json"}
        self._tls: ssl.SSLContext | bool = True
        if auth is not None:
            if auth.token:
                self._headers["Authorization"] = f"Bearer {auth.token}"
            elif auth.username is not None:
                pair = f"{auth.username}:{auth.password or ''}".encode()
                self._headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
            if auth.ca_pem:
                self._tls = ssl.create_default_context(cadata=auth.ca_pem)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        # Made on the first request: an aiohttp session belongs to the event
        # loop it was made in, and a client may be made before one runs.
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        # Requests wait here for one of the pool's connections, with a bound
        # of their own: a wait in the connector's pool would count against
        # the request's timeout and say nothing about why.
        self._slots = asyncio.Semaphore(POOL)
        self._pool_wait = timeout
        self._offsets_rounds = Rounds(ROUND_SPACING)
        self._state_rounds = Rounds(ROUND_SPACING)

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _http(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError(f"the client of Kafka Connect at {self.url} is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=POOL, ssl=self._tls),
                # aiohttp would label a PUT's empty body application/octet-stream,
                # which Connect answers with 415; httpx sent no Content-Type.
                skip_auto_headers=("Content-Type",),
            )
        return self._session

    def _stalled(self, subject: str) -> ConnectError:
        """No connection came free in time: counted (see pool_stalls), and said."""
        self.pool_stalls += 1
        return _error(
            "ConnectTimeout",
            f"no connection to Kafka Connect at {self.url} came free in time (too many "
            "requests in flight)",
            transient=True,
            subject=subject,
        )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        subject: str = "",
        params: Mapping[str, str] | None = None,
    ) -> Answer:
        try:
            async with asyncio.timeout(self._pool_wait):
                await self._slots.acquire()
        except TimeoutError:
            raise self._stalled(subject) from None
        try:
            answer = await self._request(method, path, subject=subject, params=params)
        finally:
            self._slots.release()
        self.pool_stalls = 0
        if answer.status_code in (401, 403):
            raise _error(
                "ConnectAuthFailed",
                f"Kafka Connect at {self.url} refused the credentials (HTTP "
                f"{answer.status_code}); check spec.connect.authSecretRef",
                transient=False,
                subject=subject,
            )
        if answer.status_code == 409:
            raise _error(
                "ConnectRebalancing",
                f"Kafka Connect is rebalancing (HTTP 409): {_message(answer)}",
                transient=True,
                subject=subject,
            )
        if answer.status_code >= 500:
            raise _error(
                "ConnectServerError",
                f"Kafka Connect answered HTTP {answer.status_code}: {_message(answer)}",
                transient=True,
                subject=subject,
            )
        return answer

    async def _request(
        self, method: str, path: str, *, subject: str, params: Mapping[str, str] | None
    ) -> Answer:
        """One request, its answer read whole; each way it can fail as a ConnectError."""
        try:
            async with self._http().request(method, self.url + path, params=params) as r:
                return Answer(r.status, await r.read(), r.reason or "")
        except aiohttp.ClientConnectorError as exc:
            tls = _tls_failure(exc)
            if tls is not None:
                # Not transient: the CA (ca.crt of spec.connect.authSecretRef) or
                # the server's certificate must change first.
                raise _error(
                    "ConnectTLSFailed",
                    f"TLS handshake with Kafka Connect at {self.url} failed: {tls}; check "
                    "ca.crt in spec.connect.authSecretRef",
                    transient=False,
                    subject=subject,
                ) from None
            raise _error(
                "ConnectUnreachable",
                f"Kafka Connect at {self.url} refused the connection or could not be reached",
                transient=True,
                subject=subject,
            ) from None
        except TimeoutError:
            raise _error(
                "ConnectTimeout",
                f"Kafka Connect at {self.url} did not answer in time",
                transient=True,
                subject=subject,
            ) from None
        except aiohttp.ClientError:
            # The connection closed or broke mid-answer, or the answer was not HTTP.
            raise _error(
                "ConnectConnectionDropped",
                f"Kafka Connect at {self.url} dropped the connection",
                transient=True,
                subject=subject,
            ) from None

    async def connector(
        self, name: str, *, with_offsets: bool, known_type: str | None, in_rounds: bool = False
    ) -> ConnectorState:
        """Status, type and (for sources, when asked) committed offsets of one connector."""
        path = f"/connectors/{quote(name, safe='')}"
        response = await self._call("GET", f"{path}/status", subject=name)
        if response.status_code == 404:
            return ConnectorState(name=name, state=NOT_FOUND)
        if response.status_code != 200:
            raise _error(
                "ConnectUnexpectedAnswer",
                f"GET {path}/status answered HTTP {response.status_code}: {_message(response)}",
                transient=True,
                subject=name,
            )
        body = response.json()
        state = connector_state_from_status(name, body)
        ctype = known_type or body.get("type")
        offsets: tuple[Mapping[str, Any], ...] | None = None
        if with_offsets and ctype != "sink" and self.serves_offsets:
            offsets = await self.offsets(name, in_rounds=in_rounds)
        return replace(state, type=ctype, offsets=offsets)

    async def offsets(
        self, name: str, *, in_rounds: bool = False
    ) -> tuple[Mapping[str, Any], ...] | None:
        """Committed source offsets; None where this Connect cannot serve them (< 3.5).

        ``in_rounds``: with the other offsets reads of a crowd (see rounds.py).

        A 404 that names the connector is about the connector (deleted since
        its status was read); any other 404, and a 405, is about the path.
        """
        if in_rounds:
            await self._offsets_rounds.turn()
        response = await self._call(
            "GET", f"/connectors/{quote(name, safe='')}/offsets", subject=name
        )
        if response.status_code == 405 or (
            response.status_code == 404 and name not in _message(response)
        ):
            self.serves_offsets = False
            return None
        if response.status_code != 200:
            return None
        entries = response.json().get("offsets") or []
        return tuple(e.get("offset") or {} for e in entries if isinstance(e, dict))

    async def request_state(
        self, name: str, target: ConnectTarget, *, in_rounds: bool = False
    ) -> None:
        """PUT pause | stop | resume.  Accepted is not done: the caller polls the status.

        ``in_rounds``: with the other PUTs of a crowd (see rounds.py).
        """
        verb = _VERB[target]
        if in_rounds:
            await self._state_rounds.turn()
        response = await self._call(
            "PUT", f"/connectors/{quote(name, safe='')}/{verb}", subject=name
        )
        not_found = (
            "ConnectorNotFound"
            if verb != "stop" or "not found" in _message(response).lower()
            else "ConnectStopUnsupported"
        )
        _accepted(response, name=name, request=f"PUT {verb}", not_found=not_found)

    async def restart_failed(self, name: str) -> None:
        """POST restart?includeTasks=true&onlyFailed=true: the FAILED connector and tasks only.

        Connect (3.0+, KIP-745) answers 202 with the states it will restart, or
        204 when nothing was failed any more; either way the caller polls.
        """
        response = await self._call(
            "POST",
            f"/connectors/{quote(name, safe='')}/restart?includeTasks=true&onlyFailed=true",
            subject=name,
        )
        _accepted(response, name=name, request="POST restart", not_found="ConnectorNotFound")

    async def listing(self) -> Mapping[str, ConnectorState] | BackendError:
        """Every connector's status and type, in one request; or why it could not be read."""
        try:
            response = await self._call(
                "GET",
                "/connectors",
                params={"expand": "status"},
            )
        except ConnectError as exc:
            return exc.error
        if response.status_code != 200:
            return BackendError(
                "connect",
                "ConnectUnexpectedAnswer",
                f"GET /connectors?expand=status answered HTTP {response.status_code}: "
                f"{_message(response)}",
                transient=True,
            )
        try:
            return connector_states_from_listing(response.json())
        except ValueError:
            return BackendError(
                "connect",
                "ConnectUnexpectedAnswer",
                "GET /connectors?expand=status answered something that is not JSON",
                transient=True,
            )

    def from_listing(
        self, names: list[str], listed: Mapping[str, ConnectorState] | BackendError
    ) -> tuple[list[ConnectorState], list[BackendError]]:
        """A job's connectors out of the cluster's listing, as :meth:`observe` reports them.

        A connector the listing lacks is NotFound with the same error as a 404
        of its own status; a listing that failed is every connector Unknown,
        with the error once per connector, as when each request failed.
        """
        if isinstance(listed, BackendError):
            return [ConnectorState(name=n, state="Unknown") for n in names], [
                replace(listed, subject=n) for n in names
            ]
        states: list[ConnectorState] = []
        errors: list[BackendError] = []
        for name in names:
            state = listed.get(name)
            if state is None:
                states.append(ConnectorState(name=name, state=NOT_FOUND))
                errors.append(self._not_found(name))
            else:
                states.append(state)
        return states, errors

    async def add_offsets(
        self, states: list[ConnectorState], *, in_rounds: bool = False
    ) -> tuple[list[ConnectorState], list[BackendError]]:
        """These states with the committed offsets of the sources among them, read now.

        One request per source connector (the listing has no offsets): a
        failed one leaves that connector's offsets unread, and says why.
        """
        wanted = [
            i
            for i, c in enumerate(states)
            if c.type != "sink" and c.state not in (NOT_FOUND, "Unknown")
        ]
        if not self.serves_offsets or not wanted:
            return states, []
        results = await asyncio.gather(
            *(self.offsets(states[i].name, in_rounds=in_rounds) for i in wanted),
            return_exceptions=True,
        )
        out = list(states)
        errors: list[BackendError] = []
        for i, result in zip(wanted, results, strict=True):
            if isinstance(result, ConnectError):
                errors.append(result.error)
            elif isinstance(result, BaseException):
                raise result
            else:
                out[i] = replace(out[i], offsets=result)
        return out, errors

    def _not_found(self, name: str) -> BackendError:
        return BackendError(
            "connect",
            "ConnectorNotFound",
            f"connector {name} does not exist in Kafka Connect at {self.url}",
            transient=False,
            subject=name,
        )

    async def observe(
        self,
        names: list[str],
        *,
        with_offsets: bool,
        types: dict[str, str],
        in_rounds: bool = False,
    ) -> tuple[list[ConnectorState], list[BackendError]]:
        """All of a job's connectors at once; one failing does not hide the others."""
        results = await asyncio.gather(
            *(
                self.connector(
                    n, with_offsets=with_offsets, known_type=types.get(n), in_rounds=in_rounds
                )
                for n in names
            ),
            return_exceptions=True,
        )
        states: list[ConnectorState] = []
        errors: list[BackendError] = []
        for name, result in zip(names, results, strict=True):
            if isinstance(result, ConnectError):
                errors.append(result.error)
                states.append(ConnectorState(name=name, state="Unknown"))
            elif isinstance(result, BaseException):
                raise result
            else:
                states.append(result)
                if result.state == NOT_FOUND:
                    errors.append(self._not_found(name))
        return states, errors


def _tls_failure(exc: BaseException) -> str | None:
    """What went wrong in the TLS handshake, if that is why the connection failed."""
    # aiohttp keeps the ssl error as an attribute (certificate_error,
    # os_error), not as the exception's cause.
    causes = (getattr(exc, "certificate_error", None), getattr(exc, "os_error", None))
    for cause in causes:
        if isinstance(cause, ssl.SSLError):
            return _tls_failure(cause)
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"the server's certificate is not trusted ({seen.verify_message})"
        if isinstance(seen, ssl.SSLError):
            return f"{seen.reason or 'SSL error'}"
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return "the server's certificate is not trusted"
    return None


def _accepted(response: Answer, *, name: str, request: str, not_found: str) -> None:
    """A request that changes a connector was accepted (200, 202, 204), or why not."""
    if response.status_code == 404:
        raise _error(
            not_found, f"connector {name}: {_message(response)}", transient=False, subject=name
        )
    if response.status_code not in (200, 202, 204):
        raise _error(
            "ConnectUnexpectedAnswer",
            f"{request} on connector {name} answered HTTP {response.status_code}: "
            f"{_message(response)}",
            transient=True,
            subject=name,
        )


def _message(response: Answer) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])[:300]
    return response.reason_phrase
