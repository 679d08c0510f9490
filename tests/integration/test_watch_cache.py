"""The watch cache on the real kube-apiserver: it follows changes, wakes readers, relists on 410.

The operator's own cache (syncjob_operator.backends.watch) runs in this
process against the session's control plane; kube-controller-manager and
kwok make the Deployments' Pods Ready, so the changes it follows are the
real controllers'.  A ServiceAccount without list and watch shows the
fallback to a GET per read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncjob_operator.backends.kube import Kube as KubeAdapter
from syncjob_operator.backends.kube import Resource
from syncjob_operator.backends.watch import Informer, WatchCache, version
from tests.env import chart
from tests.env.controlplane import ControlPlane
from tests.helpers.kube import Kube
from tests.helpers.manifests import deployment

pytestmark = pytest.mark.integration

DEPLOYMENTS = Resource(
    group_version="apps/v1", plural="deployments", namespaced=True, has_scale=True
)
WAIT = 60.0


async def adapter(kubeconfig: Path) -> KubeAdapter:
    return await KubeAdapter.connect(kubeconfig)


@pytest.fixture
async def cache(kube: Kube) -> AsyncIterator[WatchCache]:
    watches = WatchCache(await adapter(kube.kubeconfig))
    yield watches
    await watches.close()
    await watches.kube.close()


async def until(what: str, check: Any) -> Any:
    """Poll ``check`` (sync) every 50 ms until it is truthy, for at most WAIT seconds."""
    for _ in range(int(WAIT / 0.05)):
        if found := check():
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {WAIT}s waiting for {what}")


async def test_the_cache_follows_changes_and_wakes_the_jobs_that_read_them(
    kube: Kube, namespace: str, cache: WatchCache
) -> None:
    for name in ("a", "b"):
        kube.apply(deployment(name, 0), namespace=namespace)
    woken = {"job-a": asyncio.Event(), "job-b": asyncio.Event()}
    read_a = cache.reader(who="job-a", wake=woken["job-a"].set, fresh=False, floors={})
    read_b = cache.reader(who="job-b", wake=woken["job-b"].set, fresh=False, floors={})
    first = await read_a(DEPLOYMENTS, namespace, "a")
    assert first is not None and first["spec"]["replicas"] == 0
    assert (await read_b(DEPLOYMENTS, namespace, "b")) is not None
    informer = cache.informers[DEPLOYMENTS.collection(namespace)]
    assert informer.in_sync and informer.relists == 1
    served, _ = await cache.cached(
        DEPLOYMENTS, namespace, "a", who="job-a", wake=woken["job-a"].set
    )
    assert served, "read from the watch, not by GET"

    # Scaled up by someone: job-a is woken, job-b is not, and the cache shows
    # the Pods Ready once the real controllers and kwok make them so.
    for event in woken.values():
        event.clear()
    # b's own status may still be settling (the deployment controller writes
    # it after the create, late on a loaded machine): that is a change of b.
    b_version = informer.store.objects["b"]["metadata"]["resourceVersion"]
    kube.kubectl("scale", "deployment", "a", "-n", namespace, "--replicas=2")
    await asyncio.wait_for(woken["job-a"].wait(), timeout=WAIT)
    ready = await until(
        "2 Pods Ready in the cache",
        lambda: (informer.store.objects["a"].get("status") or {}).get("readyReplicas") == 2,
    )
    assert ready
    b_changed = informer.store.objects["b"]["metadata"]["resourceVersion"] != b_version
    assert b_changed or not woken["job-b"].is_set(), "woken by a change to another object"
    cached = await read_a(DEPLOYMENTS, namespace, "a")
    assert cached is not None and cached["spec"]["replicas"] == 2

    # Deleted: the cache says it is gone.
    kube.kubectl("delete", "deployment", "b", "-n", namespace, "--wait=true", "--timeout=60s")
    await until("b gone from the cache", lambda: "b" not in informer.store.objects)
    assert (await read_b(DEPLOYMENTS, namespace, "b")) is None


async def test_a_job_never_takes_a_cached_copy_older_than_what_it_read_itself(
    kube: Kube, namespace: str, cache: WatchCache
) -> None:
    kube.apply(deployment("c", 0), namespace=namespace)
    floors: dict[str, int] = {}
    fresh = cache.reader(who="job", wake=lambda: None, fresh=True, floors=floors)
    got = await fresh(DEPLOYMENTS, namespace, "c")
    assert got is not None
    path = DEPLOYMENTS.path(namespace, "c")
    assert floors[path] == int(got["metadata"]["resourceVersion"])
    # A version from the future: the cache cannot serve it; the read GETs.
    served, _ = await cache.cached(
        DEPLOYMENTS, namespace, "c", who="job", wake=lambda: None, floor=floors[path] + 10**9
    )
    assert not served
    # The GET may have seen a later version than the informer's list (the
    # deployment controller writes c's status meanwhile): until the watch
    # brings that version, the cache must not serve; once it has, it does.
    informer = cache.informers[DEPLOYMENTS.collection(namespace)]
    await until(
        "the cache at the version the job read",
        lambda: (
            informer.in_sync and (version(informer.store.objects.get("c")) or 0) >= floors[path]
        ),
    )
    served, seen = await cache.cached(
        DEPLOYMENTS, namespace, "c", who="job", wake=lambda: None, floor=floors[path]
    )
    assert served and seen is not None
    assert (version(seen) or 0) >= floors[path]


@pytest.fixture
def etcd_watch_plane(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ControlPlane]:
    """A control plane of its own whose API server has no watch cache: watches go to etcd.

    The session's API server serves a watch from a version older than its
    cache from where its cache starts (a bookmark, no 410); etcd, once
    compacted past a version, refuses it, and the API server says 410 Gone:
    what a watch that was down for long meets.
    """
    if request.config.getoption("--kind"):
        pytest.skip("needs a control plane of its own; runs on the local one")
    plane = ControlPlane(state=tmp_path / "controlplane", apiserver_args=("--watch-cache=false",))
    plane.start(with_nodes=False)
    try:
        yield plane
    finally:
        plane.stop()


def compact_etcd(plane: ControlPlane) -> None:
    """Compact etcd up to now (what kube-apiserver does every 5 minutes)."""
    etcd = f"http://127.0.0.1:{plane.etcd_port}"
    # etcd's JSON gateway: the current revision from any range request, then compact to it.
    head = httpx.post(f"{etcd}/v3/kv/range", json={"key": "AA=="}, timeout=10).json()
    revision = head["header"]["revision"]
    httpx.post(
        f"{etcd}/v3/kv/compaction", json={"revision": revision}, timeout=30
    ).raise_for_status()


async def test_a_watch_too_old_to_resume_from_relists(etcd_watch_plane: ControlPlane) -> None:
    kube = Kube(kubeconfig=etcd_watch_plane.kubeconfig)
    api = await adapter(kube.kubeconfig)
    collection = DEPLOYMENTS.collection("default")
    _, old = await api.list_objects(collection)
    kube.apply(deployment("d", 0), namespace="default")
    # One more write, anywhere: the API server watches from the version after
    # the one listed, and etcd still serves a watch from exactly the revision
    # compacted to, so with d as the only write (the deployment controller not
    # yet at work on a busy machine) nothing would be too old.
    kube.kubectl("create", "configmap", "after-d", "-n", "default")
    compact_etcd(etcd_watch_plane)  # the version listed is gone
    changed: list[set[str]] = []
    informer = Informer(
        api, collection, lambda _, names: changed.append(names), used_at=0.0, resume_from=old
    )
    informer.start()
    try:
        await until("the informer in sync", lambda: informer.in_sync)
        # The watch from the old version was refused (410): one list, and it holds d.
        assert informer.relists == 1 and "d" in informer.store.objects
        assert {"d"} in changed
        kube.apply(deployment("e", 0), namespace="default")
        await until("e seen by the watch after the relist", lambda: "e" in informer.store.objects)
        assert informer.relists == 1
    finally:
        await informer.stop()
        await api.close()


async def test_a_kind_it_may_not_watch_is_read_by_get(
    kube: Kube, namespace: str, tmp_path: Path
) -> None:
    """RBAC allows get on Deployments, not list or watch: every read is a GET, and it works."""
    kube.kubectl("create", "serviceaccount", "getter", "-n", namespace)
    kube.kubectl(
        "create",
        "role",
        "getter",
        "-n",
        namespace,
        "--verb=get",
        "--resource=deployments.apps",
    )
    kube.kubectl(
        "create",
        "rolebinding",
        "getter",
        "-n",
        namespace,
        "--role=getter",
        f"--serviceaccount={namespace}:getter",
    )
    kube.apply(deployment("f", 1), namespace=namespace)
    token = kube.kubectl("create", "token", "getter", "-n", namespace).stdout.strip()
    path = chart.token_kubeconfig(kube.kubeconfig, user="getter", token=token, path=tmp_path / "k")
    watches = WatchCache(await adapter(path))
    try:
        read = watches.reader(who="job", wake=lambda: None, fresh=False, floors={})
        got = await read(DEPLOYMENTS, namespace, "f")
        assert got is not None and got["metadata"]["name"] == "f"
        informer = watches.informers[DEPLOYMENTS.collection(namespace)]
        assert informer.forbidden and not informer.in_sync
        # Still read, by GET, on the next pass.
        again = await read(DEPLOYMENTS, namespace, "f")
        assert again is not None and json.dumps(again["spec"]) == json.dumps(got["spec"])
    finally:
        await watches.close()
        await watches.kube.close()


async def test_a_list_read_a_page_at_a_time_holds_every_object_and_watches_on(
    kube: Kube, namespace: str
) -> None:
    """Five Deployments listed two at a time: all five, shaped, and a watch from its version."""
    for i in range(5):
        kube.apply(deployment(f"p{i}", 0), namespace=namespace)
    api = await adapter(kube.kubeconfig)
    collection = DEPLOYMENTS.collection(namespace)
    try:
        items, listed = await api.list_objects(
            collection, shape=lambda o: {"metadata": {"name": o["metadata"]["name"]}}, page=2
        )
        assert sorted(o["metadata"]["name"] for o in items) == [f"p{i}" for i in range(5)]
        assert all(list(o) == ["metadata"] for o in items)
        kube.apply(deployment("p5", 0), namespace=namespace)
        added: list[str] = []
        async for event in api.watch(collection, listed, timeout_s=30):
            if event["type"] == "ADDED":
                added.append(event["object"]["metadata"]["name"])
            if "p5" in added:
                break
        # Watched from the list's version: what the pages held is not added again.
        assert added == ["p5"]
    finally:
        await api.close()
