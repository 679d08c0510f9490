"""Kopf wiring: thin registrations that hand each SyncJob to its reconcile loop.

- a daemon per SyncJob runs :class:`~syncjob_operator.controller.loop.JobLoop`
  until the object goes;
- a watch-event handler wakes that loop when the spec's generation changes,
  so a ``kubectl patch`` is acted on at once, not at the next resync;
- a deletion handler (Kopf's finalizer) carries out ``spec.onDelete``;
- start-up and clean-up make and close what all loops share.

Each handler guards (is there a loop, what does onDelete say), then delegates
to :mod:`syncjob_operator.controller`; what a pass does is decided there and in
:mod:`syncjob_operator.decide`, never here.  This package and ``__main__`` are
the only ones that import ``kopf``; it may import everything else, and nothing
imports it but ``__main__``.

Nothing is returned from handlers (Kopf would store it under status); the
loop writes status itself, and only when it changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

import kopf

from syncjob_operator import heap, metrics
from syncjob_operator.api import v1alpha1
from syncjob_operator.backends.kube import Kube, KubeError
from syncjob_operator.controller.loop import JobLoop
from syncjob_operator.controller.shared import Shared
from syncjob_operator.decide.plan import Event
from syncjob_operator.settings import Settings

RESOURCE = (v1alpha1.GROUP, v1alpha1.VERSION, v1alpha1.PLURAL)
FINALIZER = "syncjob.dev/finalizer"


class NoDiffBase(kopf.DiffBaseStorage):
    """No copy of the last handled spec: every event's essence is its own diff base.

    Kopf keeps the spec as last handled (by default in an annotation) to
    tell on.create and on.update handlers what changed, and PATCHes it after
    every spec change.  This operator has no such handler: a daemon per job
    acts on the spec as it is, woken by the watch events.  That PATCH was a
    fifth of the API writes of a pause storm (the spec patch, it, two status
    writes, the Events), so none is kept: Kopf sees no change to handle,
    and still adds the finalizer and runs the deletion handler.

    The essence is the same empty one for every body: Kopf builds it twice
    per watch event and copies each twice more, deep copies of the whole
    object, 7 % of the event loop's time in a storm, for a comparison whose
    answer is known.
    """

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return kopf.BodyEssence()

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config: Settings = memo.config
    settings.persistence.finalizer = FINALIZER
    # Kopf's bookkeeping in annotations, not in status: status is ours, conditions-based.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="syncjob.dev")
    settings.persistence.diffbase_storage = NoDiffBase()
    # Only our own Events (kopf.event) and real problems become Kubernetes Events,
    # not every handler log line.
    settings.posting.level = logging.WARNING
    # API servers drop idle watches after a while without telling; a client-side
    # timeout a little above the server's makes Kopf re-establish them (kopf #585).
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.watching.connect_timeout = 30
    settings.networking.request_timeout = 60
    # Kopf's first list of SyncJobs a page at a time (each ~20 KiB of JSON
    # with its managedFields): a thousand in one answer are decoded at once,
    # at start-up, the operator's peak of memory.
    settings.watching.chunk_size = 250
    if config.peering:
        settings.peering.name = config.peering
        settings.peering.mandatory = True
        settings.peering.clusterwide = not config.namespaces
    kube = await Kube.connect()
    await _check_access(kube, config)
    memo.shared = Shared(kube=kube, settings=config)
    memo.heap_trim = asyncio.create_task(heap.trim_every(config.heap_trim_interval))


async def _check_access(kube: Kube, config: Settings) -> None:
    """Fail fast, and say why, when the credentials cannot even list SyncJobs.

    Without this, Kopf retries its forbidden watches for minutes before giving
    up, and the reason is buried in retry lines.
    """
    base = f"/apis/{v1alpha1.GROUP}/{v1alpha1.VERSION}"
    scopes = [f"/namespaces/{ns}" for ns in config.namespaces] or [""]
    for scope in scopes:
        try:
            await kube.request("GET", f"{base}{scope}/{v1alpha1.PLURAL}", query=[("limit", "1")])
        except KubeError as exc:
            if exc.status in (401, 403):
                where = f" in namespace {scope.rsplit('/', 1)[-1]}" if scope else ""
                raise kopf.PermanentError(
                    f"cannot list SyncJobs{where}: {exc.message}. Grant the operator's "
                    "ServiceAccount the Helm chart's ClusterRole (or Roles)."
                ) from None
            raise


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    trimming: asyncio.Task[None] | None = getattr(memo, "heap_trim", None)
    if trimming is not None:
        trimming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await trimming
    shared: Shared | None = getattr(memo, "shared", None)
    if shared is not None:
        await shared.close()


def _loop(memo: kopf.Memo, body: kopf.Body, namespace: str, name: str) -> JobLoop:
    loop: JobLoop | None = getattr(memo, "loop", None)
    if loop is None:

        def emit(event: Event) -> None:
            kopf.event(body, type=event.type, reason=event.reason, message=event.message)

        loop = JobLoop(shared=memo.shared, namespace=namespace, name=name, emit=emit)
        memo.loop = loop
    return loop


@kopf.daemon(*RESOURCE, cancellation_timeout=10.0)
async def run(
    *,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    memo: Any,
    stopped: kopf.DaemonStopped,
    **_: Any,
) -> None:
    try:
        await _loop(memo, body, namespace or "", name).run(
            body, lambda: bool(stopped), lambda: _until(stopped)
        )
    finally:
        # Whatever stopped the loop (deletion, shutdown, or Kopf peering
        # handing the work to another replica), this replica no longer
        # reports the job: two replicas must not both count it.
        metrics.forget(namespace or "", name)


async def _until(stopped: kopf.DaemonStopped) -> None:
    """Returns when Kopf stops the daemon (deletion, shutdown, peering)."""
    await stopped.wait()


@kopf.on.event(*RESOURCE)
async def wake(*, body: kopf.Body, memo: Any, **_: Any) -> None:
    loop: JobLoop | None = getattr(memo, "loop", None)
    if loop is None:
        return
    loop.notice(body)


@kopf.on.delete(*RESOURCE)
async def release(
    *,
    body: kopf.Body,
    spec: kopf.Spec,
    namespace: str | None,
    name: str,
    memo: Any,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    namespace = namespace or ""
    metrics.forget(namespace, name)
    if spec.get("onDelete", "Resume") == "Leave":
        kopf.event(
            body,
            type="Normal",
            reason="LeftAsIs",
            message="SyncJob deleted with onDelete: Leave; its connectors and workloads are "
            "left as they are",
        )
        return
    loop = _loop(memo, body, namespace, name)
    done = await loop.release(body, within=memo.shared.settings.delete_timeout)
    if done:
        kopf.event(
            body,
            type="Normal",
            reason="Released",
            message="SyncJob deleted: its connectors and workloads are running again",
        )
    else:
        kopf.event(
            body,
            type="Warning",
            reason="ReleaseIncomplete",
            message="SyncJob deleted, but its connectors or workloads could not all be resumed "
            f"within {memo.shared.settings.delete_timeout:.0f}s; check them by hand",
        )
        logger.warning("release of %s/%s incomplete", namespace, name)
