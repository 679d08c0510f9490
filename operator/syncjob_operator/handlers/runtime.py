"""One SyncJob's reconcile loop: observe, decide, act, write status when it changed.

The only place that strings the adapters and the pure decision together.  A
Kopf daemon runs :meth:`JobLoop.run` for each SyncJob; a watch event that
changes the spec wakes it at once, and otherwise it sleeps as long as the
decision's pace says (fast while a pause is on its way, then the resync
interval), every wait bounded.  Nothing here decides anything.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic

from syncjob_operator import metrics, units
from syncjob_operator.api import jobspec, jobstatus, v1alpha1
from syncjob_operator.backends import strimzi, workloads
from syncjob_operator.backends.connect import ConnectAuth, ConnectClient, ConnectError
from syncjob_operator.backends.kube import Kube, KubeError
from syncjob_operator.decide import reconcile, retention
from syncjob_operator.decide.observed import BackendError, ConnectorState, Observed
from syncjob_operator.decide.patch import merge_patch
from syncjob_operator.decide.plan import (
    Action,
    ConnectorAction,
    Context,
    Event,
    KafkaConnectorAction,
    Pace,
    Plan,
    ScaleAction,
)
from syncjob_operator.handlers.retention import RetentionProber
from syncjob_operator.settings import Settings

logger = logging.getLogger(__name__)

# A request (PUT pause, a scale) already made is not repeated for this long
# while its effect is on its way: Connect answers 202 and acts later.
REISSUE_AFTER = 5.0
SECRET_TTL = 60.0
# Phases in which a pause has begun, so the change log is piling up.
PAUSE_PHASES = ("Pausing", "Paused", "Failed")

EventSink = Callable[[Event], None]


@dataclass
class Shared:
    """What all jobs share: the Kubernetes client, settings, Connect clients."""

    kube: Kube
    settings: Settings
    _clients: dict[tuple[str, timedelta, str, str], ConnectClient] = field(default_factory=dict)
    _secrets: dict[tuple[str, str], tuple[float, dict[str, str] | None]] = field(
        default_factory=dict
    )

    async def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        key = (namespace, name)
        cached = self._secrets.get(key)
        if cached is not None and time.monotonic() - cached[0] < SECRET_TTL:
            return cached[1]
        data = await self.kube.read_secret(namespace, name)
        self._secrets[key] = (time.monotonic(), data)
        return data

    async def connect_client(
        self, namespace: str, spec: jobspec.ConnectSpec
    ) -> ConnectClient | BackendError:
        auth: ConnectAuth | None = None
        fingerprint = ""
        if spec.auth_secret_ref is not None:
            try:
                data = await self.secret(namespace, spec.auth_secret_ref.name)
            except KubeError as exc:
                return BackendError(
                    "secrets",
                    "SecretUnreadable",
                    f"reading Secret {spec.auth_secret_ref.name}: {exc.message}",
                    transient=True,
                )
            if data is None:
                return BackendError(
                    "secrets",
                    "SecretNotFound",
                    f"Secret {spec.auth_secret_ref.name} (spec.connect.authSecretRef) does not "
                    f"exist in namespace {namespace}",
                    transient=False,
                )
            try:
                auth = ConnectAuth.from_secret(data)
            except ValueError as exc:
                return BackendError("secrets", "SecretInvalid", str(exc), transient=False)
            fingerprint = str(hash(tuple(sorted(data.items()))))
        key = (spec.url, spec.request_timeout, namespace, fingerprint)
        client = self._clients.get(key)
        if client is None:
            timeout = spec.request_timeout.total_seconds()
            client = ConnectClient(spec.url, auth=auth, timeout=timeout)
            self._clients[key] = client
        return client

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        await self.kube.close()


@dataclass
class JobLoop:
    """The per-SyncJob state that lives between reconciles (never persisted)."""

    shared: Shared
    namespace: str
    name: str
    emit: EventSink
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    connector_types: dict[str, str] = field(default_factory=dict)
    offsets_read_at: float | None = None
    # Each source connector's committed offsets as last read (for SQL Server's commit LSN).
    source_offsets: dict[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    requested: dict[str, tuple[object, float]] = field(default_factory=dict)
    transition_started: float | None = None
    poll_delay: float = 0.0
    error_streak: int = 0
    # Since when (monotonic) the backends have kept failing: see Context.stall_after.
    errors_since: float | None = None
    action_errors: list[BackendError] = field(default_factory=list)
    written: dict[str, Any] | None = None
    prober: RetentionProber = field(default_factory=RetentionProber)
    status_writes: int = 0
    seen_generation: object = None
    # The statuses this loop wrote lately, and the object's version at the
    # last pass: see _adopt_foreign_status.
    recent_writes: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=16))
    last_seen_version: str | None = None
    # A status someone else wrote over ours: the base of the next patch.
    foreign_status: dict[str, Any] | None = None

    @property
    def settings(self) -> Settings:
        return self.shared.settings

    @property
    def path(self) -> str:
        return (
            f"/apis/{v1alpha1.GROUP}/{v1alpha1.VERSION}/namespaces/{self.namespace}/"
            f"{v1alpha1.PLURAL}/{self.name}"
        )

    # --- the loop -------------------------------------------------------

    async def run(self, body: Mapping[str, Any], stopped: Callable[[], bool]) -> None:
        while not stopped():
            started = time.monotonic()
            try:
                plan = await self.step(body)
                delay = self._delay(plan.pace, plan.status)
            except Exception:
                logger.exception("reconcile of %s/%s failed", self.namespace, self.name)
                self.error_streak += 1
                delay = min(self.settings.retry_max, self.settings.retry_min * 2**self.error_streak)
            metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)
            await self._sleep(delay, stopped)

    async def _sleep(self, delay: float, stopped: Callable[[], bool]) -> None:
        deadline = time.monotonic() + delay
        while not stopped():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                # Wake early on a spec change; check `stopped` at least every second.
                await asyncio.wait_for(self.wake.wait(), timeout=min(left, 1.0))
            except TimeoutError:
                continue
            self.wake.clear()
            return

    def _delay(self, pace: Pace, status: jobstatus.SyncJobStatus) -> float:
        s = self.settings
        if pace is Pace.TRANSITION:
            if self.transition_started is None:
                self.transition_started = time.monotonic()
                self.poll_delay = s.transition_poll_min
            elif time.monotonic() - self.transition_started > s.transition_fast_window:
                # Most pauses land within the fast window (Connect takes
                # ~50-200 ms); past it, back off so a slow one costs little.
                self.poll_delay = min(s.transition_poll_max, self.poll_delay * 1.5)
            return self.poll_delay
        self.transition_started = None
        if pace is Pace.RETRY:
            self.error_streak += 1
            return float(min(s.retry_max, s.retry_min * 2.0 ** (self.error_streak - 1)))
        self.error_streak = 0
        if pace is Pace.WAITING:
            return s.stage_poll_interval
        if status.phase in ("Paused", "Pausing") and status.retention is not None:
            return min(s.resync_interval, s.retention_interval)
        return s.resync_interval

    # --- one pass -------------------------------------------------------

    async def step(self, body: Mapping[str, Any]) -> Plan:
        generation = int(body.get("metadata", {}).get("generation") or 0)
        await self._adopt_foreign_status(body)
        previous = self._read_status(
            self.written if self.written is not None else body.get("status")
        )
        if self.written is None:
            self.written = v1alpha1.dump(previous)
        try:
            spec = v1alpha1.parse_spec(dict(body.get("spec") or {}))
        except pydantic.ValidationError as exc:
            return await self._invalid_spec(exc, generation, previous)
        now = datetime.now(UTC)
        observed = await self.observe(spec, previous)
        bound, retention_errors = await self._retention(spec, previous, now)
        elapsed = time.monotonic() - self.transition_started if self.transition_started else 0.0
        if not observed.errors:
            self.errors_since = None
        elif self.errors_since is None:
            self.errors_since = time.monotonic()
        ctx = Context(
            generation=generation,
            now=now,
            previous=previous,
            transition_elapsed=elapsed,
            transition_timeout=self.settings.transition_timeout,
            errors_elapsed=(
                time.monotonic() - self.errors_since if self.errors_since is not None else 0.0
            ),
            stall_after=self.settings.stall_after,
            retention=bound,
            retention_errors=retention_errors,
        )
        plan = reconcile.decide(spec, observed, ctx)
        await self.act(spec, plan.actions)
        await self.write_status(plan.status)
        for event in plan.events:
            self.emit(event)
        metrics.record(self.namespace, self.name, plan.status, observed.errors, now=now)
        return plan

    async def _adopt_foreign_status(self, body: Mapping[str, Any]) -> None:
        """Notice a status someone else wrote over ours, so the next write repairs it.

        Status is diffed against what this loop wrote last, so that an
        unchanged status costs no request.  A status changed by anyone else
        (kubectl --subresource=status, a restore) would then never be put
        right.  When the watched object shows a new version whose status is
        none of the ones this loop wrote lately, one GET tells a foreign
        write from a watch event that is merely older than our last write.
        What this loop knows (pausedAt above all: deadlines count from it)
        stays the previous status; the foreign one is only the patch's base.
        """
        version = body.get("metadata", {}).get("resourceVersion")
        if version is None or version == self.last_seen_version:
            return
        self.last_seen_version = version
        if not self.status_not_ours(body):
            return
        fresh = await self.shared.kube.get(self.path)
        if fresh is None:
            return
        live = v1alpha1.dump(self._read_status(fresh.get("status")))
        if live != self.written:
            logger.info(
                "status of %s/%s was changed outside the operator; it will be rewritten",
                self.namespace,
                self.name,
            )
            self.foreign_status = live

    def status_not_ours(self, body: Mapping[str, Any]) -> bool:
        """Whether the object's status is none of the ones this loop wrote lately."""
        if self.written is None:
            return False
        seen = v1alpha1.dump(self._read_status(body.get("status")))
        return seen != self.written and seen not in self.recent_writes

    def _read_status(self, raw: Any) -> jobstatus.SyncJobStatus:
        try:
            return v1alpha1.parse_status(dict(raw or {}))
        except pydantic.ValidationError as exc:
            # Not one this operator wrote: start over rather than fail every pass.
            logger.warning(
                "ignoring an unreadable status of %s/%s: %s",
                self.namespace,
                self.name,
                exc.errors()[0]["msg"],
            )
            return jobstatus.SyncJobStatus()

    async def _retention(
        self, spec: jobspec.SyncJobSpec, previous: jobstatus.SyncJobStatus, now: datetime
    ) -> tuple[retention.RetentionBound | None, tuple[BackendError, ...]]:
        paused_at = units.parse_time(previous.paused_at)
        if not spec.paused or paused_at is None or previous.phase not in PAUSE_PHASES:
            self.prober.reset()
            return None, ()
        if spec.source is None and spec.kafka is None:
            return None, ()
        names = spec.connect.connectors if spec.connect is not None else []
        return await self.prober.current(
            kube=self.shared.kube,
            namespace=self.namespace,
            spec=spec,
            paused_at=paused_at,
            now=now,
            interval=self.settings.retention_interval,
            source_offsets=[o for n in names for o in self.source_offsets.get(n, ())],
        )

    async def observe(
        self, spec: jobspec.SyncJobSpec, previous: jobstatus.SyncJobStatus
    ) -> Observed:
        kube = self.shared.kube
        errors: list[BackendError] = list(self.action_errors)
        self.action_errors.clear()

        seen_workloads = await asyncio.gather(
            *(workloads.observe(kube, self.namespace, ref) for ref in spec.workloads)
        )
        seen_strimzi = await asyncio.gather(
            *(strimzi.observe(kube, self.namespace, ref.name) for ref in spec.kafka_connectors)
        )
        errors += [e for _, e in (*seen_workloads, *seen_strimzi) if e is not None]

        connectors: list[ConnectorState] = []
        connect_skipped = False
        if spec.connect is not None:
            client = await self.shared.connect_client(self.namespace, spec.connect)
            if isinstance(client, BackendError):
                errors.append(client)
                connectors = [
                    ConnectorState(name=n, state="Unknown") for n in spec.connect.connectors
                ]
            else:
                with_offsets = previous.stage != "CDC" or (
                    self.offsets_read_at is None
                    or time.monotonic() - self.offsets_read_at > self.settings.resync_interval
                )
                connectors, connect_errors = await client.observe(
                    list(spec.connect.connectors),
                    with_offsets=with_offsets,
                    types=self.connector_types,
                )
                if with_offsets and not connect_errors:
                    self.offsets_read_at = time.monotonic()
                for c in connectors:
                    if c.type:
                        self.connector_types[c.name] = c.type
                    if c.offsets is not None:  # read this pass; otherwise keep the last read
                        self.source_offsets[c.name] = c.offsets
                # The Connect workers may be the very workloads this job scales:
                # while they are at zero (paused) or coming back (resuming: a
                # Pod Ready before its worker serves, a Service's endpoints
                # behind), nobody answers and nothing runs.  That is not an
                # error.  Saved counts mark that window; the transition timeout
                # bounds it.
                ours = [w for w, _ in seen_workloads if w.saved_replicas is not None]
                workers_away = bool(ours) and all(w.found for w in ours)
                if connect_errors and workers_away and all(e.transient for e in connect_errors):
                    connect_skipped = True
                    connect_errors = []
                errors += connect_errors
        return Observed(
            connectors=tuple(connectors),
            kafka_connectors=tuple(c for c, _ in seen_strimzi),
            workloads=tuple(w for w, _ in seen_workloads),
            errors=tuple(errors),
            connect_skipped=connect_skipped,
        )

    async def act(self, spec: jobspec.SyncJobSpec, actions: tuple[Action, ...]) -> None:
        kube = self.shared.kube
        now = time.monotonic()
        jobs: list[Any] = []
        # A request is only "already made" while the decision keeps asking for
        # it; once a pass no longer asks, the next ask is a new request.
        asked = {_action_key(a)[0] for a in actions}
        for key in [k for k in self.requested if k not in asked]:
            del self.requested[key]
        for action in actions:
            key, value = _action_key(action)
            last = self.requested.get(key)
            if last is not None and last[0] == value and now - last[1] < REISSUE_AFTER:
                continue
            self.requested[key] = (value, now)
            jobs.append(self._do(spec, action, kube))
        for result in await asyncio.gather(*jobs, return_exceptions=True):
            if isinstance(result, BaseException):
                raise result

    async def _do(self, spec: jobspec.SyncJobSpec, action: Action, kube: Kube) -> None:
        try:
            if isinstance(action, ConnectorAction):
                assert spec.connect is not None
                client = await self.shared.connect_client(self.namespace, spec.connect)
                if isinstance(client, BackendError):
                    self.action_errors.append(client)
                    return
                await client.request_state(action.name, action.target)
            elif isinstance(action, KafkaConnectorAction):
                await strimzi.set_state(kube, self.namespace, action.name, action.state)
            elif isinstance(action, ScaleAction):
                await workloads.scale(
                    kube, self.namespace, action.ref, replicas=action.replicas, save=action.save
                )
            else:
                await workloads.clear_saved(kube, self.namespace, action.ref)
        except ConnectError as exc:
            # Reported (condition, metrics) with the next observation.
            self._forget(action)
            self.action_errors.append(exc.error)
        except KubeError as exc:
            self._forget(action)
            self.action_errors.append(
                BackendError("workloads", "KubernetesError", exc.message, transient=True)
            )

    def _forget(self, action: Action) -> None:
        self.requested.pop(_action_key(action)[0], None)

    async def write_status(self, status: jobstatus.SyncJobStatus) -> None:
        new = v1alpha1.dump(status)
        base = self.foreign_status if self.foreign_status is not None else self.written
        patch = merge_patch(base or {}, new)
        if patch:
            await self.shared.kube.merge_patch(f"{self.path}/status", {"status": patch})
            self.recent_writes.append(new)
            self.status_writes += 1
        # Without a patch, the object already says this (someone wrote just it).
        self.written = new
        self.foreign_status = None

    async def _invalid_spec(
        self, exc: pydantic.ValidationError, generation: int, previous: jobstatus.SyncJobStatus
    ) -> Plan:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        spec_error = BackendError("connect", "InvalidSpec", f"spec is invalid: {problems}", False)
        stub = jobspec.SyncJobSpec(paused=False, workloads=[])
        plan = reconcile.decide(
            stub,
            Observed(errors=(spec_error,)),
            Context(generation=generation, now=datetime.now(UTC), previous=previous),
        )
        await self.write_status(plan.status)
        for event in plan.events:
            self.emit(event)
        return Plan((), plan.status, plan.events, Pace.RETRY)

    # --- deletion -------------------------------------------------------

    async def release(self, body: Mapping[str, Any], *, within: float) -> bool:
        """onDelete: Resume: resume everything this job paused, within a bound."""
        try:
            spec = v1alpha1.parse_spec(dict(body.get("spec") or {}))
        except pydantic.ValidationError:
            return True
        resume = spec.model_copy(update={"paused": False})
        deadline = time.monotonic() + within
        delay = self.settings.transition_poll_min
        while time.monotonic() < deadline:
            previous = v1alpha1.parse_status(self.written or dict(body.get("status") or {}))
            observed = await self.observe(resume, previous)
            plan = reconcile.decide(
                resume,
                observed,
                Context(
                    generation=int(body.get("metadata", {}).get("generation") or 0),
                    now=datetime.now(UTC),
                    previous=previous,
                ),
            )
            await self.act(resume, plan.actions)
            self.written = v1alpha1.dump(plan.status)
            if plan.status.phase == "Running" and not plan.actions and not observed.errors:
                return True
            await asyncio.sleep(delay)
            delay = min(self.settings.transition_poll_max * 2, delay * 1.5)
        return False


def _action_key(action: Action) -> tuple[str, object]:
    if isinstance(action, ConnectorAction):
        return f"connector/{action.name}", action.target
    if isinstance(action, KafkaConnectorAction):
        return f"kafkaconnector/{action.name}", action.state
    if isinstance(action, ScaleAction):
        return f"scale/{action.ref.kind}/{action.ref.name}", (action.replicas, action.save)
    return f"clear/{action.ref.kind}/{action.ref.name}", None
