#!/usr/bin/env bash
# Builds tests/env/kstatus (a tiny wrapper around kstatus's status.Compute from
# sigs.k8s.io/cli-utils, and, with -argocd-health FILE, around gopher-lua
# running an Argo CD health check) once, into a cache outside the repository
# keyed by the cli-utils version, and prints the binary's path.  Idempotent: a
# binary already in the cache whose sources have not changed is not built again.
#
# Why: Flux, Config Sync and kpt decide "Current / InProgress / Failed" with
# kstatus, and Argo CD runs health checks in gopher-lua (Lua 5.1); the tests
# feed them SyncJobs the real operator wrote, so the real code must run, not a
# re-implementation.  Only the Go module proxy is needed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$HERE/kstatus
CLI_UTILS_VERSION=$(sed -n 's/^[[:space:]]*sigs.k8s.io\/cli-utils \(v[^ ]*\).*/\1/p' "$SRC/go.mod")
CACHE=${SYNCJOB_CACHE:-$HOME/.cache/syncjob-operator}
OUT=$CACHE/kstatus-$CLI_UTILS_VERSION
export GOFLAGS=-mod=mod
export CGO_ENABLED=0

log() { printf '[build-kstatus] %s\n' "$*" >&2; }

# The sources: every Go file, go.mod and go.sum.
mapfile -t sources < <(cd "$SRC" && LC_ALL=C ls -- *.go go.mod go.sum)
# Their digest (names and contents) sits beside the binary: an edit to any of
# them, or a file added or removed, rebuilds it.
digest() { (cd "$1" && sha256sum -- "${sources[@]}") | sha256sum | cut -d' ' -f1; }
cached() { [[ -x $OUT/kstatus && -f $OUT/sources.sha256 && $(cat "$OUT/sources.sha256") == "$(digest "$SRC")" ]]; }

if cached; then
  log "kstatus (cli-utils $CLI_UTILS_VERSION) cached in $OUT"
  echo "$OUT/kstatus"
  exit 0
fi
mkdir -p "$OUT"
# One build at a time (two test sessions may ask at once); the one that waited
# finds the binary the other built.
exec 9>"$OUT/build.lock"
flock 9
if cached; then
  log "kstatus (cli-utils $CLI_UTILS_VERSION) built meanwhile in $OUT"
  echo "$OUT/kstatus"
  exit 0
fi
# Build in a copy: -mod=mod may touch go.mod/go.sum, and the repo stays as is.
mkdir -p "$CACHE/src"
work=$(mktemp -d "$CACHE/src/kstatus-$CLI_UTILS_VERSION.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$SRC" && cp -- "${sources[@]}" "$work/")
digest=$(digest "$work") # of what is built, even if the repo changes meanwhile
log "building kstatus with sigs.k8s.io/cli-utils $CLI_UTILS_VERSION"
(cd "$work" && go build -trimpath -ldflags="-s -w" -o "$OUT/kstatus.tmp" .)
mv "$OUT/kstatus.tmp" "$OUT/kstatus"
echo "$digest" >"$OUT/sources.sha256"
echo "$OUT/kstatus"
