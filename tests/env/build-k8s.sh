#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and kube-scheduler from the
# k8s.io/kubernetes Go module, and etcd from go.etcd.io/etcd, once, into a
# cache outside the repository keyed by version.  Idempotent: a binary already
# in the cache is not built again.
#
# k8s.io/kubernetes is not meant to be consumed as a module: its go.mod points
# every staging module (k8s.io/api, k8s.io/client-go, ...) at ./staging.  A
# small wrapper module requires it and replaces each staging module with the
# published v0.<minor>.<patch> of the same release.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.34.4}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KWOK_VERSION=${KWOK_VERSION:-v0.7.0}
CACHE=${SYNCJOB_CACHE:-$HOME/.cache/syncjob-operator}
K8S_BIN=$CACHE/kubernetes-$K8S_VERSION
ETCD_BIN=$CACHE/etcd-$ETCD_VERSION
KWOK_BIN=$CACHE/kwok-$KWOK_VERSION
export GOFLAGS=-mod=mod
export CGO_ENABLED=0

log() { printf '[build-k8s] %s\n' "$*" >&2; }

build_kubernetes() {
  local want=(kube-apiserver kube-controller-manager kube-scheduler)
  local missing=0
  for b in "${want[@]}"; do [[ -x $K8S_BIN/$b ]] || missing=1; done
  ((missing)) || { log "kubernetes $K8S_VERSION cached in $K8S_BIN"; return; }
  local work=$CACHE/src/k8s-wrapper-$K8S_VERSION
  mkdir -p "$work" "$K8S_BIN"
  cd "$work"
  local staging_version="v0.${K8S_VERSION#v1.}"
  log "resolving k8s.io/kubernetes@$K8S_VERSION (staging modules at $staging_version)"
  local upstream_mod
  upstream_mod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module syncjob.dev/k8s-wrapper"
    echo
    echo "go 1.24"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    # Each staging module the upstream go.mod replaces with ./staging/...
    grep -oE 'k8s.io/[a-z0-9-]+ => \./staging/src/k8s.io/[a-z0-9-]+' "$upstream_mod" |
      awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
  } >go.mod
  cat >tools.go <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
EOF
  go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kube-scheduler@$K8S_VERSION"
  for b in "${want[@]}"; do
    [[ -x $K8S_BIN/$b ]] && continue
    log "building $b (cold: several minutes on 2 cores)"
    go build -trimpath -ldflags="-s -w" -o "$K8S_BIN/$b.tmp" "k8s.io/kubernetes/cmd/$b"
    mv "$K8S_BIN/$b.tmp" "$K8S_BIN/$b"
  done
}

build_etcd() {
  [[ -x $ETCD_BIN/etcd ]] && { log "etcd $ETCD_VERSION cached in $ETCD_BIN"; return; }
  local work=$CACHE/src/etcd-wrapper-$ETCD_VERSION
  mkdir -p "$work" "$ETCD_BIN"
  cd "$work"
  printf 'module syncjob.dev/etcd-wrapper\n\ngo 1.24\n' >go.mod
  log "building etcd $ETCD_VERSION"
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  go build -trimpath -ldflags="-s -w" -o "$ETCD_BIN/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$ETCD_BIN/etcd.tmp" "$ETCD_BIN/etcd"
}

build_kwok() {
  [[ -x $KWOK_BIN/kwok ]] && { log "kwok $KWOK_VERSION cached in $KWOK_BIN"; return; }
  mkdir -p "$KWOK_BIN"
  log "building kwok $KWOK_VERSION"
  GOBIN=$KWOK_BIN go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
}

case "${1:-all}" in
  etcd) build_etcd ;;
  kubernetes) build_kubernetes ;;
  kwok) build_kwok ;;
  all) build_etcd; build_kubernetes; build_kwok ;;
  *) echo "usage: $0 [all|etcd|kubernetes|kwok]" >&2; exit 2 ;;
esac
