"""Workloads and KafkaConnectors read from a watch-fed cache, not a GET per pass.

Why this exists: each pass of each job used to GET its workloads (and their
scale subresource) and KafkaConnectors, so the API server's load grew with
the number of jobs and with how fast they poll, even when nothing changed.
Here one list+watch per collection (kind and namespace) keeps every object
of it in memory and serves every job that reads one:

- started lazily, on the first read of the collection, and stopped once no
  job has read from it for ``idle_after`` seconds;
- the watch resumes from the last resourceVersion seen (bookmarks keep it
  fresh), relists at once on 410 Gone (too old to resume from), and relists
  after a bounded backoff on any other error; while it is not in sync,
  reads fall through to a GET, so a broken watch costs freshness nothing;
- a kind the operator may not list or watch (RBAC) is read by GET on every
  pass, and the log says so once per collection;
- a change to an object wakes the jobs that read it (:class:`Subscriptions`),
  so a resume sees its Pods Ready when they are, without polling for it;
- read-your-writes: a job that read an object by GET (right after changing
  it) takes the cached copy only once it is at least as new (its
  resourceVersion), never an older one.

The bookkeeping (:class:`Store`, :class:`Subscriptions`, :func:`backoff`) is
pure; :class:`Informer` and :class:`WatchCache` are the I/O around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from syncjob_operator.backends.kube import Kube, KubeError, Resource

logger = logging.getLogger(__name__)

# A collection no job read for this long stops being watched: well above the
# resync interval (30 s), so converged jobs keep theirs.
IDLE_AFTER = 300.0
# The server ends each watch after this long; it is then resumed.
WATCH_TIMEOUT_S = 240
# A first sync slower than this serves the read by GET meanwhile.
SYNC_WAIT_S = 5.0
BACKOFF_MIN, BACKOFF_MAX = 0.5, 30.0
# How often the idle informers and readers are looked for.
SWEEP_EVERY = 10.0

Read = Callable[[Resource, str, str], Awaitable[dict[str, Any] | None]]


def backoff(streak: int) -> float:
    """The wait before relisting after the ``streak``-th error in a row: doubling, bounded."""
    return float(min(BACKOFF_MAX, BACKOFF_MIN * 2.0 ** (max(streak, 1) - 1)))


def version(obj: dict[str, Any] | None) -> int | None:
    """An object's resourceVersion as a number (etcd's revision), None if it is not one."""
    text = str(((obj or {}).get("metadata") or {}).get("resourceVersion") or "")
    return int(text) if text.isdigit() else None


# What the readers of the cache (workloads.observe, strimzi.observe) look at:
# the metadata below (the saved count is a label, or an annotation of an
# older release), the spec's scalars (replicas, state, pause) and the status
# but for its conditions (readyReplicas, replicas, Strimzi's
# connectorStatus).  The rest is the bulk of a typical object and never read
# from a cached copy: the field managers' bookkeeping, kubectl's copy of the
# whole last applied object, owner references, the spec's nested parts (a
# Deployment's Pod template and selector, a KafkaConnector's connector
# config) and the status conditions.  Dropped on the way in, so a thousand
# cached workloads cost what those few fields cost.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
KEPT_METADATA = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "deletionTimestamp",
    "labels",
    "annotations",
)


def slim(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without what no reader of the cache looks at (a shallow copy)."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        return obj
    kept = {k: metadata[k] for k in KEPT_METADATA if k in metadata}
    annotations = kept.get("annotations")
    if isinstance(annotations, dict) and LAST_APPLIED in annotations:
        kept["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    slimmed = {**obj, "metadata": kept}
    spec = obj.get("spec")
    if isinstance(spec, dict):
        slimmed["spec"] = {k: v for k, v in spec.items() if not isinstance(v, dict | list)}
    status = obj.get("status")
    if isinstance(status, dict) and "conditions" in status:
        slimmed["status"] = {k: v for k, v in status.items() if k != "conditions"}
    return slimmed


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


@dataclass
class Store:
    """One collection's objects by name, from a list and the watch events after it."""

    objects: dict[str, dict[str, Any]] = field(default_factory=dict)

    def replace(self, items: Iterable[dict[str, Any]]) -> set[str]:
        """A (re)list: the names that changed, appeared or went since the last state."""
        new = {_name(o): slim(o) for o in items}
        old = self.objects
        changed = {n for n in new.keys() | old.keys() if version(new.get(n)) != version(old.get(n))}
        changed |= {n for n in new.keys() ^ old.keys()}
        self.objects = new
        return changed

    def apply(self, event: dict[str, Any]) -> set[str]:
        """A watch event: the name it changed (none for a bookmark)."""
        kind, obj = event.get("type"), event.get("object") or {}
        name = _name(obj)
        if kind in ("ADDED", "MODIFIED"):
            self.objects[name] = slim(obj)
        elif kind == "DELETED":
            self.objects.pop(name, None)
        else:
            return set()
        return {name}


@dataclass
class Subscriptions:
    """Who reads which object, to be woken when it changes; forgotten when not renewed."""

    idle_after: float = IDLE_AFTER
    # (collection, name) -> reader -> (its wake, when it last read)
    readers: dict[tuple[str, str], dict[Hashable, tuple[Callable[[], None], float]]] = field(
        default_factory=dict
    )

    def renew(
        self, collection: str, name: str, who: Hashable, wake: Callable[[], None], now: float
    ) -> None:
        self.readers.setdefault((collection, name), {})[who] = (wake, now)

    def wake(self, collection: str, names: Iterable[str]) -> int:
        """Wake the readers of these objects; how many were woken."""
        woken = 0
        for name in names:
            for wake, _ in self.readers.get((collection, name), {}).values():
                wake()
                woken += 1
        return woken

    def expire(self, now: float) -> None:
        for key in list(self.readers):
            kept = {w: v for w, v in self.readers[key].items() if now - v[1] <= self.idle_after}
            if kept:
                self.readers[key] = kept
            else:
                del self.readers[key]


@dataclass
class Informer:
    """One collection's list+watch, feeding a :class:`Store`."""

    kube: Kube
    collection: str
    on_change: Callable[[str, set[str]], None]
    used_at: float
    store: Store = field(default_factory=Store)
    # True while the store follows the server (listed, watch on); reads use it then.
    in_sync: bool = False
    # The server refused to list or watch (RBAC): reads GET instead.
    forbidden: bool = False
    # Set once the first list answered, or failed for good.
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    # Where the first watch starts from ("" lists first); tests start from an expired one.
    resume_from: str = ""
    relists: int = 0
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name=f"watch {self.collection}")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def run(self) -> None:
        rv, streak = self.resume_from, 0
        while True:
            try:
                if not rv:
                    items, rv = await self.kube.list_objects(self.collection, shape=slim)
                    self.relists += 1
                    changed = self.store.replace(items)
                    self.in_sync, streak = True, 0
                    self.settled.set()
                    if changed:
                        self.on_change(self.collection, changed)
                async for event in self.kube.watch(self.collection, rv, timeout_s=WATCH_TIMEOUT_S):
                    rv = str(
                        ((event.get("object") or {}).get("metadata") or {}).get("resourceVersion")
                        or rv
                    )
                    changed = self.store.apply(event)
                    if changed:
                        self.on_change(self.collection, changed)
            except KubeError as exc:
                self.in_sync = False
                if exc.status == 410:
                    rv = ""  # too old to resume from: relist at once
                    continue
                if exc.status in (401, 403):
                    self.forbidden = True
                    self.settled.set()
                    logger.warning(
                        "cannot list and watch %s (%s): its objects are read one by one on "
                        "every pass instead; grant list and watch to save the requests",
                        self.collection,
                        exc.message,
                    )
                    return
                streak += 1
                rv = ""
                await self._pause(streak, exc.message)
            except Exception as exc:  # a dead informer would serve stale objects for good
                self.in_sync = False
                streak += 1
                rv = ""
                await self._pause(streak, f"{type(exc).__name__}: {exc}")

    async def _pause(self, streak: int, why: str) -> None:
        """Wait before relisting; said once per run of failures (reads GET meanwhile)."""
        delay = backoff(streak)
        if streak == 1:
            logger.info(
                "watch of %s failed (%s); relisting in %.1fs, reading by GET meanwhile",
                self.collection,
                why,
                delay,
            )
        await asyncio.sleep(delay)


@dataclass
class Followed:
    """Whether every object a pass read is followed by a watch in sync (its changes wake it)."""

    reads: int = 0
    unfollowed: int = 0

    def saw(self, informer: Informer | None) -> None:
        self.reads += 1
        if informer is None or not informer.in_sync or informer.forbidden:
            self.unfollowed += 1


@dataclass
class WatchCache:
    """The informers of every collection jobs read, and who reads what."""

    kube: Kube
    clock: Callable[[], float] = time.monotonic
    idle_after: float = IDLE_AFTER
    subscriptions: Subscriptions = field(default_factory=Subscriptions)
    informers: dict[str, Informer] = field(default_factory=dict)
    swept_at: float = float("-inf")

    def _changed(self, collection: str, names: set[str]) -> None:
        self.subscriptions.wake(collection, names)

    def informer(self, resource: Resource, namespace: str) -> Informer:
        collection = resource.collection(namespace)
        informer = self.informers.get(collection)
        if informer is None:
            informer = Informer(self.kube, collection, self._changed, used_at=self.clock())
            self.informers[collection] = informer
            informer.start()
        return informer

    async def cached(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        *,
        who: Hashable,
        wake: Callable[[], None],
        floor: int | None = None,
    ) -> tuple[bool, dict[str, Any] | None]:
        """(served, object): served False means read it by GET (not in sync, or too old)."""
        now = self.clock()
        informer = self.informer(resource, namespace)
        informer.used_at = now
        self.subscriptions.renew(informer.collection, name, who, wake, now)
        if not informer.settled.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(informer.settled.wait(), timeout=SYNC_WAIT_S)
        if not informer.in_sync:
            return False, None
        obj = informer.store.objects.get(name)
        if floor is not None and (obj is None or (version(obj) or 0) < floor):
            return False, None  # older than what this job saw itself
        return True, obj

    def reader(
        self,
        *,
        who: Hashable,
        wake: Callable[[], None],
        fresh: bool,
        floors: dict[str, int],
        followed: Followed | None = None,
    ) -> Read:
        """How one job's pass reads objects: from the cache, or by GET when ``fresh``.

        ``floors`` (kept by the job) holds the resourceVersion of each object
        it read by GET, so that it never takes an older cached copy after.
        ``followed`` counts the reads whose object a watch in sync follows.
        """

        async def read(resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
            try:
                return await read_one(resource, namespace, name)
            finally:
                if followed is not None:
                    followed.saw(self.informers.get(resource.collection(namespace)))

        async def read_one(resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
            path = resource.path(namespace, name)
            if not fresh:
                served, obj = await self.cached(
                    resource, namespace, name, who=who, wake=wake, floor=floors.get(path)
                )
                if served:
                    return obj
            else:  # still watched, so that its changes wake the job
                informer = self.informer(resource, namespace)
                informer.used_at = self.clock()
                self.subscriptions.renew(informer.collection, name, who, wake, informer.used_at)
            obj = await self.kube.get(path)
            seen = version(obj)
            if seen is not None:
                floors[path] = seen
            return obj

        return read

    async def sweep(self) -> None:
        """Stop watching what no job read for ``idle_after``; forget readers not renewed.

        Every job's pass calls it: it does its work at most every SWEEP_EVERY
        seconds, so that it costs nothing per pass at a thousand jobs.
        """
        now = self.clock()
        if now - self.swept_at < SWEEP_EVERY:
            return
        self.swept_at = now
        self.subscriptions.expire(now)
        for collection, informer in list(self.informers.items()):
            if now - informer.used_at > self.idle_after:
                del self.informers[collection]
                await informer.stop()

    async def close(self) -> None:
        for informer in list(self.informers.values()):
            await informer.stop()
        self.informers.clear()
