#!/usr/bin/env bash
# Builds tests/env/kstatus (a tiny wrapper around kstatus's status.Compute from
# sigs.k8s.io/cli-utils) once, into a cache outside the repository keyed by the
# cli-utils version, and prints the binary's path.  Idempotent: a binary already
# in the cache whose sources have not changed is not built again.
#
# Why: Flux, Config Sync and kpt decide "Current / InProgress / Failed" with
# kstatus; the tests feed it SyncJobs the real operator wrote, so kstatus itself
# must run, not a re-implementation.  Only the Go module proxy is needed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$HERE/kstatus
CLI_UTILS_VERSION=$(sed -n 's/^[[:space:]]*sigs.k8s.io\/cli-utils \(v[^ ]*\).*/\1/p' "$SRC/go.mod")
CACHE=${SYNCJOB_CACHE:-$HOME/.cache/syncjob-operator}
OUT=$CACHE/kstatus-$CLI_UTILS_VERSION
export GOFLAGS=-mod=mod
export CGO_ENABLED=0

log() { printf '[build-kstatus] %s\n' "$*" >&2; }

# The sources' digest sits beside the binary: an edit to main.go rebuilds it.
digest=$(cat "$SRC/main.go" "$SRC/go.mod" "$SRC/go.sum" | sha256sum | cut -d' ' -f1)
if [[ -x $OUT/kstatus && -f $OUT/sources.sha256 && $(cat "$OUT/sources.sha256") == "$digest" ]]; then
  log "kstatus (cli-utils $CLI_UTILS_VERSION) cached in $OUT"
  echo "$OUT/kstatus"
  exit 0
fi
mkdir -p "$OUT"
# Build in a copy: -mod=mod may touch go.mod/go.sum, and the repo stays as is.
work=$CACHE/src/kstatus-$CLI_UTILS_VERSION
rm -rf "$work"
mkdir -p "$work"
cp "$SRC/main.go" "$SRC/go.mod" "$SRC/go.sum" "$work/"
log "building kstatus with sigs.k8s.io/cli-utils $CLI_UTILS_VERSION"
(cd "$work" && go build -trimpath -ldflags="-s -w" -o "$OUT/kstatus.tmp" .)
mv "$OUT/kstatus.tmp" "$OUT/kstatus"
echo "$digest" >"$OUT/sources.sha256"
echo "$OUT/kstatus"
