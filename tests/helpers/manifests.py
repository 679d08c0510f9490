"""Builders of the objects the tests apply: SyncJobs, Deployments, Secrets.

Why this exists: the same few manifests are applied by the integration, e2e
and benchmark tests; built in one place, a test says only what is special
about its objects.
"""

from __future__ import annotations

from typing import Any


def syncjob(name: str, spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "syncjob.dev/v1alpha1",
        "kind": "SyncJob",
        "metadata": {"name": name, **meta},
        "spec": spec,
    }


def deployment(name: str, replicas: int) -> dict[str, Any]:
    """A Deployment of ``replicas`` Pods (kwok makes them Ready: the image is never pulled)."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "connect", "image": "registry.invalid/connect"}]},
            },
        },
    }


def workload_ref(
    name: str, kind: str = "Deployment", api_version: str = "apps/v1"
) -> dict[str, str]:
    """An entry of ``spec.workloads``."""
    return {"apiVersion": api_version, "kind": kind, "name": name}


def secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}
