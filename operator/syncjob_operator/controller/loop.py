"""One SyncJob's reconcile loop: observe, decide, act, write status when it changed.

The only place that strings the adapters and the pure decision together.  A
Kopf daemon runs :meth:`JobLoop.run` for each SyncJob; a watch event that
changes the spec wakes it at once (:meth:`JobLoop.notice`), and otherwise it
sleeps as long as the decision's pace says (:mod:`.pacing`), every wait
bounded.  What a pass keeps for the next lives in small units of its own: the
observer's connector types and offsets (:mod:`.observe`), the requests made
(:mod:`.ledger`), what was written (:mod:`.status`).  Deleting a job with
``onDelete: Resume`` runs the same pass with the spec resumed
(:meth:`JobLoop.release`).  Nothing here decides anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from asyncio import FIRST_COMPLETED
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pydantic

from syncjob_operator import metrics, units
from syncjob_operator.api import jobspec, jobstatus, v1alpha1
from syncjob_operator.backends import strimzi, workloads
from syncjob_operator.backends.connect import ConnectError
from syncjob_operator.backends.kube import Kube, KubeError
from syncjob_operator.controller import pacing
from syncjob_operator.controller.catchup import BacklogProber
from syncjob_operator.controller.ledger import Ledger
from syncjob_operator.controller.observe import Observer, crowd_poll, in_a_crowd
from syncjob_operator.controller.retention import RetentionProber
from syncjob_operator.controller.shared import Shared
from syncjob_operator.controller.status import CROWD_HOLD, StatusBook, holds
from syncjob_operator.decide import backlog as backlog_measure
from syncjob_operator.decide import plan as plans
from syncjob_operator.decide import reconcile, retention, workers
from syncjob_operator.decide.observed import BackendError, Observed
from syncjob_operator.settings import Settings

logger = logging.getLogger(__name__)

# Phases in which a pause has begun, so the change log is piling up.
PAUSE_PHASES = ("Pausing", "Paused", "Failed")

EventSink = Callable[[plans.Event], None]


@dataclass
class JobLoop:
    """The per-SyncJob state that lives between reconciles (never persisted).

    ``action_errors`` are the failures of the last pass's actions: reported
    (condition, metrics) with the next observation.
    """

    shared: Shared
    namespace: str
    name: str
    emit: EventSink
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    observer: Observer = field(default_factory=Observer)
    ledger: Ledger = field(default_factory=Ledger)
    pacer: pacing.Pacer = field(init=False)
    # Since when the backends have kept failing: see Context.stall_after.
    stall: pacing.StallClock = field(default_factory=pacing.StallClock)
    action_errors: list[BackendError] = field(default_factory=list)
    book: StatusBook = field(init=False)
    prober: RetentionProber = field(default_factory=RetentionProber)
    backlog: BacklogProber = field(default_factory=BacklogProber)
    seen_generation: object = None
    # Monotonic seconds: when the last pass finished observing and acting.
    looked_at: float | None = None
    # Whether the job has a source or Kafka to probe on its resyncs (no watch
    # tells when their figures move), as of the last pass's spec.
    probes: bool = False

    def __post_init__(self) -> None:
        self.pacer = pacing.Pacer(self.shared.settings)
        self.book = StatusBook(f"{self.namespace}/{self.name}")

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

    async def run(
        self,
        body: Mapping[str, Any],
        stopped: Callable[[], bool],
        until_stopped: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """Pass after pass until ``stopped()``; ``until_stopped()`` returns when it is.

        With ``until_stopped`` a sleep ends the moment the loop is stopped or
        woken, and costs nothing in between; without it, a sleep looks at
        ``stopped`` every second (a thousand idle jobs would wake the event
        loop a thousand times a second).
        """
        first = True
        if self.seen_generation is None:
            # The generation the loop starts on is no change: only a later one
            # wakes it (a wake on the first event cost every job a second
            # pass at once after its first, a thousand extra at a start-up).
            self.seen_generation = body.get("metadata", {}).get("generation")
        while not stopped():
            started = time.monotonic()
            try:
                async with self._first_turn() if first else contextlib.nullcontext():
                    first = False
                    plan = await self.step(body)
                now = time.monotonic()
                # A failed action is retried at the fast poll, watched or not.
                watched = self.observer.watched and not self.action_errors
                delay = self.pacer.after(
                    plan.pace,
                    plan.status,
                    now=now,
                    watched=watched,
                    probed=self.probes,
                )
                if plan.pace is plans.Pace.TRANSITION and self.looked_at is not None:
                    # A transition's poll interval runs from the last look at
                    # the backends, not from the end of the status write and
                    # Events that followed it.
                    delay = max(0.0, delay - (now - self.looked_at))
                if plan.pace is plans.Pace.TRANSITION:
                    delay = crowd_poll(delay, crowded=self.observer.crowded)
                left = self.hold_left(now)
                if left is not None:
                    delay = min(delay, left)  # a held status is written on time
            except KubeError as exc:
                # The API server refused or could not be reached (a status write,
                # say): retried with backoff; a traceback per job would say no more.
                logger.warning(
                    "reconcile of %s/%s: Kubernetes API%s: %s; retrying",
                    self.namespace,
                    self.name,
                    f" HTTP {exc.status}" if exc.status else "",
                    exc.message,
                )
                delay = self.pacer.failed()
            except Exception:
                logger.exception("reconcile of %s/%s failed", self.namespace, self.name)
                delay = self.pacer.failed()
            metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)
            if until_stopped is not None:
                await self._sleep_until(delay, until_stopped)
            else:
                await self._sleep(delay, stopped)

    @contextlib.asynccontextmanager
    async def _first_turn(self) -> AsyncIterator[None]:
        """Held through the first pass: the job's turn among a start-up's first passes.

        A job woken while it waits (its spec changed: a pause or resume
        patched during a start-up, or it is being deleted) goes at once,
        beside the bounded ones: the bound is for the start-up's memory, and
        a user's change must not wait for a thousand jobs ahead of it.
        Either way the pass reads the newest object, so the wake is spent.
        """
        turns = self.shared.first_passes
        if turns is None:
            self.wake.clear()
            yield
            return
        turn = asyncio.ensure_future(turns.acquire())
        woken = asyncio.ensure_future(self.wake.wait())
        try:
            await asyncio.wait((turn, woken), return_when=FIRST_COMPLETED)
        finally:
            woken.cancel()
            if not turn.done():
                turn.cancel()  # a cancelled acquire hands its turn to the next waiter
        held = turn.done() and not turn.cancelled()
        self.wake.clear()
        try:
            yield
        finally:
            if held:
                turns.release()

    async def _sleep_until(
        self, delay: float, until_stopped: Callable[[], Awaitable[object]]
    ) -> None:
        if delay <= 0:
            return
        woken = asyncio.ensure_future(self.wake.wait())
        stopping = asyncio.ensure_future(until_stopped())
        try:
            await asyncio.wait((woken, stopping), timeout=delay, return_when=FIRST_COMPLETED)
        finally:
            woken.cancel()
            stopping.cancel()
        if self.wake.is_set():
            self.wake.clear()
            self.pacer.woken()

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
            self.pacer.woken()
            return

    # --- one pass -------------------------------------------------------

    async def step(self, body: Mapping[str, Any]) -> plans.Plan:
        """One pass of the loop: status written, events emitted, metrics recorded."""
        generation = int(body.get("metadata", {}).get("generation") or 0)
        await self._adopt_foreign_status(body)
        previous = self.book.previous(body)
        try:
            spec = v1alpha1.parse_spec(dict(body.get("spec") or {}))
        except pydantic.ValidationError as exc:
            return await self._invalid_spec(exc, generation, previous)
        plan, _ = await self._pass(spec, previous, generation)
        return plan

    async def _pass(
        self,
        spec: jobspec.SyncJobSpec,
        previous: jobstatus.SyncJobStatus,
        generation: int,
        *,
        releasing: bool = False,
    ) -> tuple[plans.Plan, tuple[BackendError, ...]]:
        """Observe, decide, act; then report, unless releasing. The plan, and the errors seen.

        Releasing (the object is going), nothing is reported: no status write,
        no Event, no metrics series (the delete handler has forgotten it).
        """
        now = datetime.now(UTC)
        began = time.monotonic()
        self.probes = spec.source is not None or spec.kafka is not None
        await self.shared.sweep()  # close the clients whose time has come
        # The backlog probe (a source query and a consumer-group lag, tens of
        # ms) runs beside the observation and the actions, never before them:
        # a resume's first pass is the one that probes, and the user waits
        # for its PUTs.  The backlog is only reported (status.cdc), so the
        # actions are decided without it and the status with it.
        probing: asyncio.Future[backlog_measure.Measure | None] | None = None
        measure = None  # releasing: nothing is reported, so nothing is probed
        if not releasing and self.backlog.due(spec, previous, settings=self.settings):
            probing = asyncio.ensure_future(self._backlog(spec, previous, now))
        elif not releasing:
            measure = self.backlog.standing(spec)
        try:
            observed = workers.settle(await self.observe(spec, previous))
            looked = time.monotonic()
            # After the observation: a paused job's retention needs the offsets it read.
            bound, retention_errors = await self._retention(spec, previous, now)
            ctx = self._context(
                previous,
                observed,
                generation=generation,
                now=now,
                bound=bound,
                retention_errors=retention_errors,
            )
            decided = time.monotonic()
            acted = probing is not None and not probing.done()
            if acted:
                await self.act(spec, reconcile.decide(spec, observed, ctx).actions)
            if probing is not None:
                measure = await probing
        finally:
            if probing is not None and not probing.done():
                probing.cancel()
        plan = reconcile.decide(spec, observed, dataclasses.replace(ctx, backlog=measure))
        if not acted:
            await self.act(spec, plan.actions)
        self.looked_at = time.monotonic()
        if releasing:
            self.book.keep(plan.status)
            return plan, observed.errors
        await self.report(plan)
        if logger.isEnabledFor(logging.DEBUG):
            # Where a pass's time goes, for whoever asks why a transition is slow.
            logger.debug(
                "pass of %s/%s: observed %.1f ms, retention %.1f ms, acted %.1f ms (%d), "
                "status %.1f ms, phase %s",
                self.namespace,
                self.name,
                (looked - began) * 1000,
                (decided - looked) * 1000,
                (self.looked_at - decided) * 1000,
                len(plan.actions),
                (time.monotonic() - self.looked_at) * 1000,
                plan.status.phase,
            )
        metrics.record(self.namespace, self.name, plan.status, observed.errors)
        metrics.record_backlog(self.namespace, self.name, measure, spec.catch_up)
        return plan, observed.errors

    def _context(
        self,
        previous: jobstatus.SyncJobStatus,
        observed: Observed,
        *,
        generation: int,
        now: datetime,
        bound: retention.RetentionBound | None,
        retention_errors: tuple[BackendError, ...],
    ) -> plans.Context:
        """What the decision knows besides the spec and the observation (the backlog aside)."""
        return plans.Context(
            generation=generation,
            now=now,
            previous=previous,
            transition_elapsed=self.pacer.transition_elapsed(now=time.monotonic()),
            transition_timeout=self.settings.transition_timeout,
            errors_elapsed=self.stall.update(
                failing=bool(observed.errors or observed.stage_errors), now=time.monotonic()
            ),
            stall_after=self.settings.stall_after,
            retention=bound,
            retention_errors=retention_errors,
        )

    async def _adopt_foreign_status(self, body: Mapping[str, Any]) -> None:
        """Notice a status someone else wrote over ours, so the next write repairs it."""
        if not self.book.needs_check(body):
            return
        fresh = await self.shared.kube.get(self.path)
        if fresh is not None and self.book.adopt(fresh):
            logger.info(
                "status of %s/%s was changed outside the operator; it will be rewritten",
                self.namespace,
                self.name,
            )

    def notice(self, body: Mapping[str, Any]) -> None:
        """A watch event: wake the loop for a new spec, a deletion, or a status not ours."""
        generation = body.get("metadata", {}).get("generation")
        if generation != self.seen_generation or body.get("metadata", {}).get("deletionTimestamp"):
            self.seen_generation = generation
            self.wake.set()
        elif self.book.not_ours(body):
            self.wake.set()  # someone else wrote the status: repair it now, not at the next resync

    async def _backlog(
        self, spec: jobspec.SyncJobSpec, previous: jobstatus.SyncJobStatus, now: datetime
    ) -> backlog_measure.Measure | None:
        return await self.backlog.current(
            shared=self.shared,
            namespace=self.namespace,
            spec=spec,
            previous=previous,
            connector_types=self.observer.connector_types,
            now=now,
        )

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
        # A process that has not measured the WAL rate yet goes on from the status.
        self.prober.seed(previous.retention)
        return await self.prober.current(
            kube=self.shared.kube,
            namespace=self.namespace,
            spec=spec,
            paused_at=paused_at,
            now=now,
            interval=self.settings.retention_interval,
            source_offsets=self.observer.offsets_of(names),
            kafka_admins=self.shared,
            sink_connectors=[n for n in names if self.observer.connector_types.get(n) == "sink"],
        )

    async def observe(
        self, spec: jobspec.SyncJobSpec, previous: jobstatus.SyncJobStatus
    ) -> Observed:
        """What the backends say, with the errors of the last pass's actions (not yet judged)."""
        carried = tuple(self.action_errors)
        self.action_errors.clear()
        return await self.observer.observe(
            shared=self.shared,
            namespace=self.namespace,
            spec=spec,
            previous=previous,
            carried=carried,
            wake=self.wake.set,
        )

    async def act(self, spec: jobspec.SyncJobSpec, actions: tuple[plans.Action, ...]) -> None:
        kube = self.shared.kube
        jobs = [self._do(spec, a, kube) for a in self.ledger.due(actions, now=time.monotonic())]
        if jobs:
            self.observer.acted = True  # the next pass looks at what it asked for itself
        results = await asyncio.gather(*jobs, return_exceptions=True)
        if jobs:
            self.observer.acted_at = self.observer.clock()
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _do(self, spec: jobspec.SyncJobSpec, action: plans.Action, kube: Kube) -> None:
        try:
            if isinstance(action, plans.ConnectorAction | plans.RestartAction):
                assert spec.connect is not None
                client = await self.shared.connect_client(self.namespace, spec.connect)
                if isinstance(client, BackendError):
                    self.action_errors.append(client)
                elif isinstance(action, plans.ConnectorAction):
                    crowd = self.shared.connect_crowds.size(client)
                    await client.request_state(
                        action.name, action.target, in_rounds=in_a_crowd(crowd)
                    )
                else:
                    await client.restart_failed(action.name)
            elif isinstance(action, plans.KafkaConnectorAction):
                await strimzi.set_state(kube, self.namespace, action.name, action.state)
            elif isinstance(action, plans.ScaleAction):
                await workloads.scale(
                    kube, self.namespace, action.ref, replicas=action.replicas, save=action.save
                )
            else:
                await workloads.clear_saved(kube, self.namespace, action.ref)
        except ConnectError as exc:
            self.ledger.forget(action)
            self.action_errors.append(exc.error)
        except KubeError as exc:
            self.ledger.forget(action)
            self.action_errors.append(
                BackendError("workloads", "KubernetesError", exc.message, transient=True)
            )

    async def report(self, plan: plans.Plan) -> None:
        """Write the plan's status and post its Events, or hold them (:func:`status.holds`)."""
        now = time.monotonic()
        held_for = self.book.held_for(now)
        if holds(plan.pace, plan.status, held_for=held_for, window=self.hold_window):
            self.book.hold(plan.status, list(plan.events), now)
            return
        posting = self.book.to_post(list(plan.events))
        await self.write_status(plan.status)
        for event in posting:
            self.emit(event)

    def hold_left(self, now: float) -> float | None:
        """Seconds until a held status must be written (None: nothing is held)."""
        held_for = self.book.held_for(now)
        return None if held_for is None else max(0.0, self.hold_window - held_for)

    @property
    def hold_window(self) -> float:
        """How long a step on the way may be held: longer in a crowd (see CROWD_HOLD)."""
        return self.settings.status_hold * (CROWD_HOLD if self.observer.crowded else 1.0)

    async def write_status(self, status: jobstatus.SyncJobStatus) -> None:
        new, patch = self.book.patch(status)
        if patch:
            await self.shared.kube.merge_patch(f"{self.path}/status", {"status": patch})
        # Without a patch, the object already says this (someone wrote just it).
        self.book.wrote(new, patched=bool(patch))

    async def _invalid_spec(
        self, exc: pydantic.ValidationError, generation: int, previous: jobstatus.SyncJobStatus
    ) -> plans.Plan:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        spec_error = BackendError("connect", "InvalidSpec", f"spec is invalid: {problems}", False)
        stub = jobspec.SyncJobSpec(paused=False, workloads=[])
        plan = reconcile.decide(
            stub,
            Observed(errors=(spec_error,)),
            plans.Context(generation=generation, now=datetime.now(UTC), previous=previous),
        )
        await self.report(plan)
        return plans.Plan((), plan.status, plan.events, plans.Pace.RETRY)

    # --- deletion -------------------------------------------------------

    async def release(self, body: Mapping[str, Any], *, within: float) -> bool:
        """onDelete: Resume: resume everything this job paused, within a bound.

        The loop's own pass, on the spec with ``paused`` forced to false, until
        the job runs with nothing left to ask and nothing failing.
        """
        try:
            spec = v1alpha1.parse_spec(dict(body.get("spec") or {}))
        except pydantic.ValidationError:
            return True
        resume = spec.model_copy(update={"paused": False})
        generation = int(body.get("metadata", {}).get("generation") or 0)
        deadline = time.monotonic() + within
        delay: float | None = None
        while time.monotonic() < deadline:
            previous = self.book.previous(body)
            plan, errors = await self._pass(resume, previous, generation, releasing=True)
            if plan.status.phase == "Running" and not plan.actions and not errors:
                return True
            delay = pacing.release_delay(delay, self.settings)
            await asyncio.sleep(delay)
        return False
