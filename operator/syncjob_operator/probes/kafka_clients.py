"""A Kafka AdminClient kept for reuse, with what librdkafka said went wrong since it last worked.

Why this exists: a new AdminClient pays for a TCP connection, a TLS handshake
and a SASL exchange (SCRAM: several round trips) before its first request,
against a managed cluster over the internet each time.  The operator keeps
one per cluster and credentials (bootstrap servers + a fingerprint of the
Secret's data), shared by every probe of every job; the pool that decides
when one is made, reused and closed is ``controller.clients.Pool``, kept by
``controller.shared.Shared``.  This module is the thin
part: make the client, remember its errors, destroy it.

librdkafka reports why it cannot connect (refused, TLS handshake, SASL) to
``error_cb`` and not in the failed request, which only says "timed out".  A
kept client has seen errors long before a probe, so it keeps the errors seen
since its last successful request, latest per code, and a probe names the
cause from those.  The callback writes into a small object of its own, not
into this one, so the client and its callback form no reference cycle and
dropping the last reference destroys the librdkafka handle at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError
from confluent_kafka.admin import AdminClient

from syncjob_operator.probes import kafka_errors

AdminFactory = Callable[[dict[str, Any]], Any]


class _Errors:
    """What error_cb saw, latest per code; written by librdkafka's thread, read by the probe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[int, KafkaError] = {}

    def record(self, err: KafkaError) -> None:
        with self._lock:
            self._seen[err.code()] = err

    def snapshot(self) -> dict[int, KafkaError]:
        with self._lock:
            return dict(self._seen)

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


class SharedAdmin:
    """One AdminClient for one cluster and one set of credentials.

    ``config`` is a librdkafka config (``bootstrap.servers`` plus the Secret's
    ``security.protocol``/``sasl.*``/``ssl.*``); it may hold a password, so
    neither it nor anything made of it is ever part of a message or a repr.
    Raises KafkaException when librdkafka refuses the config.
    """

    def __init__(
        self,
        config: Mapping[str, str],
        *,
        timeout_s: float = 15.0,
        factory: AdminFactory = AdminClient,
    ) -> None:
        self.bootstrap = config.get("bootstrap.servers", "?")
        self.timeout_s = timeout_s
        self._secret_values = [
            v for k, v in config.items() if ("password" in k or "secret" in k) and len(v) >= 3
        ]
        self._errors = _Errors()
        admin_config = kafka_errors.client_config(config, timeout_s, self._errors.record)
        self._admin: Any = factory(admin_config)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"SharedAdmin({self.bootstrap}, {state})"

    @property
    def closed(self) -> bool:
        return self._admin is None

    def client(self) -> Any:
        """The AdminClient itself; a caller keeps its own reference while it uses it."""
        if self._admin is None:
            raise RuntimeError(f"the Kafka admin client for {self.bootstrap} is closed")
        return self._admin

    def errors_since_success(self) -> dict[int, KafkaError]:
        """Serve pending error_cb events, then what was seen since the last success."""
        admin = self._admin
        if admin is not None:
            admin.poll(0)
        return self._errors.snapshot()

    def succeeded(self) -> None:
        """A request worked: earlier connection errors no longer describe this client."""
        admin = self._admin
        if admin is not None:
            admin.poll(0)  # drain what came before the success, so it is not kept
        self._errors.clear()

    def redact(self, text: str) -> str:
        for value in self._secret_values:
            text = text.replace(value, "***")
        return " ".join(text.split())

    def close(self) -> None:
        """Drop the handle; librdkafka closes its connections when the last user lets go.

        Blocking (librdkafka joins its threads): run it in a worker thread.
        A probe still running with it holds its own reference and finishes.
        """
        self._admin = None
