#!/usr/bin/env bash
# Fetches Kafka's own FileStream connectors (connect-file, Maven Central) into
# the Connect worker's plugin.path, as a part of its own with its own stamp:
#
#   $CACHE/kafka-<kafka>/plugins/connect-file/
#   $CACHE/kafka-<kafka>/plugins/connect-file/.complete
#
# Why: the scale bench and its short version run hundreds of real connectors
# on one worker, and need one that costs next to nothing: FileStreamSource
# reads a small file once, commits its position, and then waits.  Kafka's
# distribution ships the jar but the worker class path of tests/env does not
# (Kafka itself took it off the class path in 3.x).  A separate part so that
# adding it leaves the cached Kafka part valid; run by fetch-pipeline.sh after
# the Kafka part (a refetched Kafka part replaces its directory, this plugin
# with it, and then this stamp is missing).  Idempotent.  Prints what it does
# on stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=maven/versions.env
source "$here/maven/versions.env"
cache=${SYNCJOB_CACHE:-$HOME/.cache/syncjob-operator}
log() { echo "[fetch-connect-file] $*" >&2; }

plugins="$cache/kafka-$KAFKA_VERSION/plugins"
[[ -d $plugins ]] || { log "no $plugins: run fetch-pipeline.sh (the Kafka part) first"; exit 1; }
dir="$plugins/connect-file"
stamp="$dir/.complete"
want="connect-file=$KAFKA_VERSION"
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  log "cached: $dir ($want)"
  exit 0
fi

command -v mvn >/dev/null 2>&1 || { log "missing mvn on PATH (Debian: maven)"; exit 1; }
log "fetching $want into $dir with mvn (Maven Central)"
# Scratch in the cache (same file system: an atomic rename), outside the
# plugin path, which a running worker may be scanning.
tmp="$cache/.connect-file.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/out"
trap 'rm -rf "$tmp"' EXIT
# dependency:copy needs no project: one artifact, no transitive dependencies
# (it needs only connect-api, which the worker has).
mvn -B -ntp -q -Dstyle.color=never \
  org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
  -Dartifact="org.apache.kafka:connect-file:$KAFKA_VERSION" \
  -DoutputDirectory="$tmp/out" >&2
[[ -f $tmp/out/connect-file-$KAFKA_VERSION.jar ]] || { log "no connect-file jar fetched"; exit 1; }
echo "$want" >"$tmp/out/.complete"
rm -rf "$dir"
mv "$tmp/out" "$dir"
rm -rf "$tmp"
trap - EXIT
log "done: $dir"
