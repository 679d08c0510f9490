"""The Helm chart, rendered by a real helm: lint, template, and what the manifests grant.

helm is built from its Go module by ``tests/env/build-helm.sh`` (cached outside
the repo), so these tests check the chart as Helm itself reads it: values
schema, template syntax, ``helm lint --strict``.  The RBAC tests pin the exact
set of (scope, group, resource, verb) the operator is granted, so widening it
is a reviewed change here, and refuse any wildcard.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "syncjob-operator"
RELEASE = "sj"
NAMESPACE = "syncjob-system"
FULLNAME = "sj-syncjob-operator"
HELM_BUILD_TIMEOUT = 1800  # a cold build; a cached helm returns at once

Manifest = dict[str, Any]
Grant = tuple[str, str, str, str]  # (namespace or "" for cluster, apiGroup, resource, verb)


@pytest.fixture(scope="session")
def helm() -> Path:
    if os.environ.get("HELM"):
        return Path(os.environ["HELM"])
    if shutil.which("go") is None:
        pytest.skip("no Go toolchain to build helm with (or set HELM=/path/to/helm)")
    out = subprocess.run(
        ["bash", str(REPO / "tests/env/build-helm.sh")],
        check=True,
        capture_output=True,
        text=True,
        timeout=HELM_BUILD_TIMEOUT,
    )
    return Path(out.stdout.strip().splitlines()[-1])


def run_helm(helm: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), *args], capture_output=True, text=True, timeout=120, check=check
    )


def set_args(values: dict[str, str]) -> list[str]:
    return [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]


def render(helm: Path, values: dict[str, str] | None = None, *extra: str) -> list[Manifest]:
    out = run_helm(
        helm,
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        *set_args(values or {}),
        *extra,
    )
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def only(manifests: list[Manifest], kind: str) -> Manifest:
    found = of_kind(manifests, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def grants(manifests: list[Manifest]) -> set[Grant]:
    """Every (namespace, group, resource, verb) the rendered RBAC grants."""
    result: set[Grant] = set()
    for role in of_kind(manifests, "ClusterRole") + of_kind(manifests, "Role"):
        scope = role["metadata"].get("namespace", "")
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        result.add((scope, group, resource, verb))
    return result


def expand(scope: str, group: str, resources: str, verbs: str) -> Iterator[Grant]:
    for resource in resources.split():
        for verb in verbs.split():
            yield (scope, group, resource, verb)


# What the operator sends in each namespace it watches, as the API server's
# audit log shows it (tests/integration/test_rbac_audit.py measures it).
WATCHED = [
    ("syncjob.dev", "syncjobs", "get list watch patch"),
    ("syncjob.dev", "syncjobs/status", "patch"),
    ("", "events", "create"),
    ("", "secrets", "get"),
    ("apps", "deployments statefulsets", "get list watch patch"),
    ("apps", "deployments/scale statefulsets/scale", "patch"),
    ("kafka.strimzi.io", "kafkaconnectors", "get list watch patch"),
    ("kafka.strimzi.io", "kafkaconnects", "get list watch patch"),
    ("kafka.strimzi.io", "kafkaconnects/scale", "get patch"),
]
CLUSTER = [
    ("apiextensions.k8s.io", "customresourcedefinitions", "list watch"),
]
# Only for named namespaces: Kopf watches them come and go.
NAMED_NAMESPACES = [("", "namespaces", "list watch")]


def expected_grants(namespaces: list[str]) -> set[Grant]:
    result = {g for group, res, verbs in CLUSTER for g in expand("", group, res, verbs)}
    if not namespaces:
        for group, res, verbs in WATCHED:
            result.update(expand("", group, res, verbs))
        result.update(expand("", "kopf.dev", "clusterkopfpeerings", "list watch patch"))
    else:
        for group, res, verbs in NAMED_NAMESPACES:
            result.update(expand("", group, res, verbs))
    for ns in namespaces:
        for group, res, verbs in WATCHED:
            result.update(expand(ns, group, res, verbs))
        result.update(expand(ns, "kopf.dev", "kopfpeerings", "list watch patch"))
    return result


WATCH_TWO = {"watchNamespaces": "{sales,billing}"}


# --- lint ---------------------------------------------------------------------


@pytest.mark.parametrize("values", [{}, WATCH_TWO], ids=["all-namespaces", "watchNamespaces"])
def test_helm_lint_strict(helm: Path, values: dict[str, str]) -> None:
    out = run_helm(helm, "lint", "--strict", str(CHART), *set_args(values), check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 chart(s) failed" in out.stdout


def test_values_schema_refuses_an_unknown_log_format(helm: Path) -> None:
    out = run_helm(helm, "template", RELEASE, str(CHART), "--set", "logFormat=xml", check=False)
    assert out.returncode != 0
    assert "logFormat" in out.stderr


def test_values_schema_refuses_a_wildcard_extra_scale_group(helm: Path) -> None:
    out = run_helm(
        helm,
        "template",
        RELEASE,
        str(CHART),
        "--set",
        "rbac.extraScaleResources[0].apiGroup=*",
        "--set",
        "rbac.extraScaleResources[0].resources={foos}",
        check=False,
    )
    assert out.returncode != 0


# --- CRDs ---------------------------------------------------------------------


def test_chart_crd_is_a_copy_of_the_generated_one() -> None:
    generated = (REPO / "crds" / "syncjob.dev_syncjobs.yaml").read_text()
    copied = (CHART / "crds" / "syncjob.dev_syncjobs.yaml").read_text()
    assert copied == generated, "stale chart CRD: run charts/sync-crds.sh"


def test_sync_crds_check_mode_agrees() -> None:
    out = subprocess.run(
        ["bash", str(REPO / "charts/sync-crds.sh"), "--check"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0, out.stderr


def test_crds_include_kopf_peering(helm: Path) -> None:
    crds = of_kind(render(helm, {}, "--include-crds"), "CustomResourceDefinition")
    by_name = {crd["metadata"]["name"]: crd for crd in crds}
    assert set(by_name) == {
        "syncjobs.syncjob.dev",
        "clusterkopfpeerings.kopf.dev",
        "kopfpeerings.kopf.dev",
    }
    assert by_name["clusterkopfpeerings.kopf.dev"]["spec"]["scope"] == "Cluster"
    assert by_name["kopfpeerings.kopf.dev"]["spec"]["scope"] == "Namespaced"
    for name in ("clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"):
        (version,) = by_name[name]["spec"]["versions"]
        assert version["name"] == "v1"
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert status["x-kubernetes-preserve-unknown-fields"] is True


# --- RBAC ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "namespaces"),
    [({}, []), (WATCH_TWO, ["sales", "billing"])],
    ids=["all-namespaces", "watchNamespaces"],
)
def test_rbac_is_exactly_what_the_operator_needs(
    helm: Path, values: dict[str, str], namespaces: list[str]
) -> None:
    assert grants(render(helm, values)) == expected_grants(namespaces)


@pytest.mark.parametrize(
    "values",
    [
        {},
        WATCH_TWO,
        {
            "rbac.extraScaleResources[0].apiGroup": "example.com",
            "rbac.extraScaleResources[0].resources": "{foos,bars}",
        },
    ],
    ids=["all-namespaces", "watchNamespaces", "extraScale"],
)
def test_rbac_has_no_wildcards(helm: Path, values: dict[str, str]) -> None:
    roles = [m for m in render(helm, values) if m["kind"] in ("ClusterRole", "Role")]
    assert roles
    for role in roles:
        assert "aggregationRule" not in role
        for rule in role["rules"]:
            assert "nonResourceURLs" not in rule
            for key in ("apiGroups", "resources", "verbs", "resourceNames"):
                for item in rule.get(key, []):
                    assert "*" not in item, f"wildcard in {role['kind']} {key}: {rule}"


def test_watch_namespaces_keeps_secrets_out_of_the_cluster_role(helm: Path) -> None:
    manifests = render(helm, WATCH_TWO)
    cluster = only(manifests, "ClusterRole")
    resources = {r for rule in cluster["rules"] for r in rule["resources"]}
    assert resources == {"namespaces", "customresourcedefinitions"}
    roles = of_kind(manifests, "Role")
    bindings = of_kind(manifests, "RoleBinding")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["billing", "sales"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["billing", "sales"]
    for binding in bindings:
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": FULLNAME,
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE},
        ]


def test_extra_scale_resources_grant_get_and_patch_on_the_kind_and_its_scale(
    helm: Path,
) -> None:
    """The operator reads and annotates the workload itself, not only its /scale:
    with /scale alone, pausing such a kind is forbidden (its GET is refused).
    It lists and watches the kind, so that a pass reads it from the watch cache."""
    values = {
        "rbac.extraScaleResources[0].apiGroup": "example.com",
        "rbac.extraScaleResources[0].resources": "{foos}",
    }
    extra = grants(render(helm, values)) - expected_grants([])
    assert extra == {
        ("", "example.com", "foos", "get"),
        ("", "example.com", "foos", "list"),
        ("", "example.com", "foos", "watch"),
        ("", "example.com", "foos", "patch"),
        ("", "example.com", "foos/scale", "get"),
        ("", "example.com", "foos/scale", "patch"),
    }


def test_cluster_role_binding_binds_the_service_account(helm: Path) -> None:
    manifests = render(helm)
    binding = only(manifests, "ClusterRoleBinding")
    sa = only(manifests, "ServiceAccount")
    assert sa["metadata"] == {**sa["metadata"], "name": FULLNAME, "namespace": NAMESPACE}
    assert binding["roleRef"]["name"] == only(manifests, "ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE},
    ]


# --- Deployment ---------------------------------------------------------------


def container(manifests: list[Manifest]) -> Manifest:
    (c,) = only(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    return c  # type: ignore[no-any-return]


def env_of(c: Manifest) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


def test_security_context(helm: Path) -> None:
    manifests = render(helm)
    pod = only(manifests, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container(manifests)["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["runAsUser"] != 0


def test_two_replicas_with_kopf_peering_all_namespaces(helm: Path) -> None:
    manifests = render(helm)
    deployment = only(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    c = container(manifests)
    # The operator watches all namespaces when given no --namespace.
    assert c["args"] == ["--peering=syncjob-operator"]
    assert env_of(c)["POD_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    peering = only(manifests, "ClusterKopfPeering")
    assert peering["apiVersion"] == "kopf.dev/v1"
    assert peering["metadata"]["name"] == "syncjob-operator"
    assert not of_kind(manifests, "KopfPeering")
    assert only(manifests, "PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_watch_namespaces_passes_namespace_flags_and_namespaced_peerings(helm: Path) -> None:
    manifests = render(helm, WATCH_TWO)
    assert container(manifests)["args"] == [
        "--peering=syncjob-operator",
        "--namespace=sales",
        "--namespace=billing",
    ]
    peerings = of_kind(manifests, "KopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in peerings) == ["billing", "sales"]
    assert {p["metadata"]["name"] for p in peerings} == {"syncjob-operator"}
    assert not of_kind(manifests, "ClusterKopfPeering")


def test_probes_resources_and_settings(helm: Path) -> None:
    c = container(render(helm, {"logFormat": "text"}))
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": 8080, "health": 8081}
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["resources"]["requests"]["cpu"]
    assert c["resources"]["requests"]["memory"]
    assert c["resources"]["limits"]["memory"]
    env = env_of(c)
    assert env["SYNCJOB_LOG_FORMAT"] == "text"
    assert env["SYNCJOB_METRICS_PORT"] == "8080"
    assert env["SYNCJOB_HEALTH_PORT"] == "8081"
    assert not any(arg.startswith("--priority") for arg in c["args"])  # random per replica


def test_a_pinned_peering_priority_is_passed_as_a_flag(helm: Path) -> None:
    c = container(render(helm, {"peering.priority": "100", "replicaCount": "1"}))
    assert c["args"] == ["--peering=syncjob-operator", "--priority=100"]


def test_image_tag_defaults_to_app_version_and_digest_wins(helm: Path) -> None:
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    assert container(render(helm))["image"].endswith(f":{app_version}")
    digest = "sha256:" + "a" * 64
    image = container(render(helm, {"image.digest": digest}))["image"]
    assert image == f"ghcr.io/syncjob-dev/syncjob-operator@{digest}"


# --- metrics ------------------------------------------------------------------


def test_metrics_service_and_optional_service_monitor(helm: Path) -> None:
    manifests = render(helm)
    service = only(manifests, "Service")
    assert service["metadata"]["name"] == f"{FULLNAME}-metrics"
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"},
    ]
    assert (
        service["spec"]["selector"]
        == (only(manifests, "Deployment")["spec"]["selector"]["matchLabels"])
    )
    assert not of_kind(manifests, "ServiceMonitor")

    monitor = only(render(helm, {"metrics.serviceMonitor.enabled": "true"}), "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]


def test_notes_render(helm: Path, tmp_path: Path) -> None:
    # `helm install --dry-run` needs a cluster: render NOTES.txt offline, with the
    # same engine, from a copy of the chart where it is a named template.
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "NOTES.txt").unlink()
    (chart / "templates" / "_notes.tpl").write_text(
        '{{- define "test.notes" -}}\n' + notes + "{{- end }}\n"
    )
    (chart / "templates" / "notes.yaml").write_text(
        'notes: |\n  {{- include "test.notes" . | nindent 2 }}\n'
    )
    out = run_helm(
        helm,
        "template",
        RELEASE,
        str(chart),
        "--namespace",
        NAMESPACE,
        "--show-only",
        "templates/notes.yaml",
        *set_args(WATCH_TWO),
    )
    text = yaml.safe_load(out.stdout)["notes"]
    assert "sales, billing" in text
    assert "--type merge" in text
    assert "kubectl syncjob pause NAME -n NAMESPACE --wait" in text
