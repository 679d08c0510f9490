#!/usr/bin/env bash
# Rewrites argocd-cm-patch.yaml from health.lua, so the Lua is edited (and
# tested) in one place; tests/unit/test_argocd_health.py fails when they differ.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
{
  cat <<'YAML'
# Adds the SyncJob health check to Argo CD.  Generated from health.lua by
# sync-cm-patch.sh: edit health.lua, then run the script.
#
# Apply as a strategic merge patch to Argo CD's own ConfigMap, e.g.
#   kubectl -n argocd patch configmap argocd-cm --patch-file deploy/argocd/argocd-cm-patch.yaml
# or list it under `patches:` in the kustomization that installs Argo CD.
# (Helm chart argo/argo-cd: put the same key under configs.cm.)
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/name: argocd-cm
    app.kubernetes.io/part-of: argocd
data:
  resource.customizations.health.syncjob.dev_SyncJob: |
YAML
  sed -e 's/^\(.\)/    \1/' "$here/health.lua"
} >"$here/argocd-cm-patch.yaml"
