"""The watch cache's bookkeeping: the store from list and events, who is woken, the backoff."""

from __future__ import annotations

from typing import Any

import pytest

from syncjob_operator.backends.watch import (
    BACKOFF_MAX,
    LAST_APPLIED,
    Store,
    Subscriptions,
    backoff,
    version,
)


def obj(name: str, rv: str, **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": rv}, **extra}


@pytest.mark.parametrize(
    ("before", "listed", "changed"),
    [
        ([], [obj("a", "1")], {"a"}),  # the first list: everything is new
        ([obj("a", "1")], [obj("a", "1")], set()),  # nothing moved
        ([obj("a", "1"), obj("b", "2")], [obj("a", "5"), obj("b", "2")], {"a"}),
        ([obj("a", "1"), obj("b", "2")], [obj("b", "2")], {"a"}),  # gone while not watched
        ([obj("a", "1")], [obj("a", "1"), obj("c", "9")], {"c"}),
    ],
)
def test_a_relist_tells_what_changed_meanwhile(
    before: list[dict[str, Any]], listed: list[dict[str, Any]], changed: set[str]
) -> None:
    store = Store()
    store.replace(before)
    assert store.replace(listed) == changed
    assert sorted(store.objects) == sorted(o["metadata"]["name"] for o in listed)


@pytest.mark.parametrize(
    ("event", "changed", "names"),
    [
        ({"type": "ADDED", "object": obj("b", "3")}, {"b"}, ["a", "b"]),
        ({"type": "MODIFIED", "object": obj("a", "4")}, {"a"}, ["a"]),
        ({"type": "DELETED", "object": obj("a", "5")}, {"a"}, []),
        ({"type": "BOOKMARK", "object": obj("", "6")}, set(), ["a"]),
    ],
)
def test_watch_events(event: dict[str, Any], changed: set[str], names: list[str]) -> None:
    store = Store()
    store.replace([obj("a", "1")])
    assert store.apply(event) == changed
    assert sorted(store.objects) == names
    if event["type"] == "MODIFIED":
        assert version(store.objects["a"]) == 4


def test_readers_are_woken_for_their_own_objects_only_and_forgotten_when_not_renewed() -> None:
    woken: list[str] = []
    subs = Subscriptions(idle_after=300.0)
    subs.renew("/deployments", "a", "job-1", lambda: woken.append("job-1"), now=0.0)
    subs.renew("/deployments", "a", "job-2", lambda: woken.append("job-2"), now=0.0)
    subs.renew("/deployments", "b", "job-3", lambda: woken.append("job-3"), now=0.0)
    subs.renew("/statefulsets", "a", "job-4", lambda: woken.append("job-4"), now=0.0)
    assert subs.wake("/deployments", {"a"}) == 2
    assert sorted(woken) == ["job-1", "job-2"]
    # job-1 keeps reading; the others stop (deleted, or their spec changed).
    subs.renew("/deployments", "a", "job-1", lambda: woken.append("job-1"), now=200.0)
    subs.expire(now=400.0)
    woken.clear()
    assert subs.wake("/deployments", {"a", "b"}) == 1
    assert woken == ["job-1"]
    assert list(subs.readers) == [("/deployments", "a")]


@pytest.mark.parametrize(
    ("streak", "delay"), [(0, 0.5), (1, 0.5), (2, 1.0), (3, 2.0), (7, 30.0), (50, BACKOFF_MAX)]
)
def test_backoff_is_bounded(streak: int, delay: float) -> None:
    assert backoff(streak) == delay


@pytest.mark.parametrize(
    ("o", "v"), [(obj("a", "42"), 42), (obj("a", "x1"), None), ({}, None), (None, None)]
)
def test_version(o: dict[str, Any] | None, v: int | None) -> None:
    assert version(o) == v


@pytest.mark.parametrize("how", ["listed", "watched"])
def test_the_cache_keeps_no_field_managers_no_last_applied_copy_and_no_nested_spec(
    how: str,
) -> None:
    full = obj(
        "a",
        "7",
        spec={
            "replicas": 3,
            "paused": False,
            "selector": {"matchLabels": {"app": "a"}},
            "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}},
            "config": {"connector.class": "X"},
            "tolerations": [{"key": "k"}],
        },
        status={
            "readyReplicas": 3,
            "conditions": [{"type": "Available"}],
            "connectorStatus": {"connector": {"state": "RUNNING"}},
        },
    )
    full["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": "x"}]
    full["metadata"]["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]
    full["metadata"]["annotations"] = {
        LAST_APPLIED: '{"spec": {"replicas": 3}}',
        "syncjob.dev/saved-replicas": "3",
    }
    store = Store()
    if how == "listed":
        store.replace([full])
    else:
        store.apply({"type": "ADDED", "object": full})
    kept = store.objects["a"]
    assert "managedFields" not in kept["metadata"]
    assert kept["metadata"]["annotations"] == {"syncjob.dev/saved-replicas": "3"}
    assert kept["spec"] == {"replicas": 3, "paused": False}
    assert "ownerReferences" not in kept["metadata"]
    assert kept["status"] == {
        "readyReplicas": 3,
        "connectorStatus": {"connector": {"state": "RUNNING"}},
    }
    assert version(kept) == 7
    assert "managedFields" in full["metadata"], "the event's own object is left as it was"
    assert "template" in full["spec"]
