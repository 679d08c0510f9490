#!/usr/bin/env bash
# Builds helm (Helm 3) from the helm.sh/helm/v3 Go module, once, into a cache
# outside the repository keyed by version, so the chart tests run `helm lint`
# and `helm template` with the real tool instead of a reimplementation.
# Idempotent: a binary already in the cache is not built again.
#
# Prints the path of the helm binary on stdout (logs go to stderr), so tests can
# do HELM=$(tests/env/build-helm.sh).
#
# Like build-k8s.sh it builds inside a small wrapper module in the cache, so
# the repository's own go.mod (there is none) is never touched and the
# dependency graph is exactly the one helm's go.mod pins.  HELM_VERSION picks
# the version; without it the first of HELM_VERSIONS that builds wins.
set -euo pipefail

HELM_VERSIONS=${HELM_VERSIONS:-"v3.19.5 v3.19.0 v3.18.6 v3.18.4 v3.20.2"}
CACHE=${SYNCJOB_CACHE:-$HOME/.cache/syncjob-operator}
export GOFLAGS=-mod=mod
export CGO_ENABLED=0

log() { printf '[build-helm] %s\n' "$*" >&2; }

build_one() {
  local version=$1
  local bin=$CACHE/helm-$version/helm
  if [[ -x $bin ]]; then
    log "helm $version cached in ${bin%/helm}"
    echo "$bin"
    return 0
  fi
  local work=$CACHE/src/helm-wrapper-$version
  mkdir -p "$work" "${bin%/helm}"
  cd "$work"
  printf 'module syncjob.dev/helm-wrapper\n\ngo 1.24\n' >go.mod
  cat >tools.go <<'GO'
//go:build tools

package tools

import _ "helm.sh/helm/v3/cmd/helm"
GO
  log "resolving helm.sh/helm/v3@$version"
  go get "helm.sh/helm/v3/cmd/helm@$version" >&2 || return 1
  # The -X flags helm's Makefile sets: its version, and the Kubernetes version
  # `helm template` and `helm lint` assume (Capabilities.KubeVersion), derived
  # like the Makefile does from the client-go it is built with (v0.34 -> 1.34);
  # without them helm assumes Kubernetes 1.20.
  local client_go major minor
  client_go=$(go list -f '{{.Version}}' -m k8s.io/client-go)
  client_go=${client_go#v}
  major=$((${client_go%%.*} + 1))
  minor=${client_go#*.}
  minor=${minor%%.*}
  local x=helm.sh/helm/v3
  local ldflags="-s -w -X $x/internal/version.version=$version -X $x/internal/version.gitTreeState=clean"
  ldflags+=" -X $x/pkg/lint/rules.k8sVersionMajor=$major -X $x/pkg/lint/rules.k8sVersionMinor=$minor"
  ldflags+=" -X $x/pkg/chartutil.k8sVersionMajor=$major -X $x/pkg/chartutil.k8sVersionMinor=$minor"
  log "building helm $version for Kubernetes $major.$minor (cold: a few minutes on 2 cores)"
  go build -trimpath -ldflags="$ldflags" -o "$bin.tmp" helm.sh/helm/v3/cmd/helm >&2 || return 1
  mv "$bin.tmp" "$bin"
  echo "$bin"
}

if [[ -n ${HELM_VERSION:-} ]]; then
  build_one "$HELM_VERSION"
  exit
fi
# A version already in the cache wins over building another one.
for v in $HELM_VERSIONS; do
  if [[ -x $CACHE/helm-$v/helm ]]; then
    build_one "$v"
    exit
  fi
done
for v in $HELM_VERSIONS; do
  if (build_one "$v"); then exit 0; fi
  log "helm $v did not build; trying the next version"
done
log "no helm version in '$HELM_VERSIONS' built"
exit 1
