#!/usr/bin/env bash
# Fetches the Debezium MariaDB source connector plugin from Maven Central into
# the Connect worker's plugin.path, as a part of its own with its own stamp:
#
#   $CACHE/kafka-<kafka>/plugins/debezium-connector-mariadb/
#   $CACHE/kafka-<kafka>/plugins/debezium-connector-mariadb/.complete
#
# A separate part so that adding it leaves the cached Kafka part (and the
# PostgreSQL plugin) valid.  Run by fetch-pipeline.sh after the Kafka part: a
# refetched Kafka part replaces its whole directory, this plugin with it, and
# then this stamp is missing and the plugin is fetched again.  Idempotent.
# Prints what it does on stderr.
#
# The version is DEBEZIUM_MARIADB_VERSION in tests/env/maven/versions.env: the
# registry serves this connector only up to 3.5.0.Final, while the PostgreSQL
# connector is at 3.6.1.Final (each plugin has its own class loader in Connect).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=maven/versions.env
source "$here/maven/versions.env"
cache=${SYNCJOB_CACHE:-$HOME/.cache/syncjob-operator}
log() { echo "[fetch-debezium-mariadb] $*" >&2; }

plugins="$cache/kafka-$KAFKA_VERSION/plugins"
[[ -d $plugins ]] || { log "no $plugins: run fetch-pipeline.sh (the Kafka part) first"; exit 1; }
dir="$plugins/debezium-connector-mariadb"
stamp="$dir/.complete"
want="debezium-connector-mariadb=$DEBEZIUM_MARIADB_VERSION"
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  log "cached: $dir ($want)"
  exit 0
fi

command -v mvn >/dev/null 2>&1 || { log "missing mvn on PATH (Debian: maven)"; exit 1; }
log "fetching $want into $dir with mvn (Maven Central)"
# The scratch dir is in the cache (the same file system, for an atomic rename)
# but outside the plugin path, which a running worker may be scanning.
tmp="$cache/.debezium-connector-mariadb.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
mvn -B -ntp -q -Dstyle.color=never -f "$here/maven/debezium-mariadb.pom.xml" package \
  -Dpipeline.target="$tmp/target" \
  -Dpipeline.out="$tmp/out" \
  -Ddebezium.version="$DEBEZIUM_MARIADB_VERSION" >&2
jar="$tmp/out/debezium-connector-mariadb/debezium-connector-mariadb-$DEBEZIUM_MARIADB_VERSION.jar"
[[ -f $jar ]] || { log "no $(basename "$jar") in the unpacked plugin"; exit 1; }
echo "$want" >"$tmp/out/debezium-connector-mariadb/.complete"
rm -rf "$dir"
mv "$tmp/out/debezium-connector-mariadb" "$dir"
rm -rf "$tmp"
trap - EXIT
log "done: $(ls "$dir"/*.jar | wc -l) jars in $dir"
