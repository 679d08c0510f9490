#!/usr/bin/env bash
# Installs the Debian packages the test environment runs for real: PostgreSQL
# (the Debezium source), MariaDB (a binlog source), Lua (the Argo CD
# health check runs in it).  A no-op when they are all present.
set -euo pipefail
pkgs=(postgresql postgresql-contrib mariadb-server mariadb-client lua5.4 openssl iproute2 procps)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0
echo "[install-debs] installing: ${missing[*]}" >&2
SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d keeps the packages' own services from starting: the tests start
# their own servers on free loopback ports.
$SUDO sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  # A package left unpacked but not configured (seen once with mariadb-server
  # in a container without an init system): configure, then try once more.
  $SUDO dpkg --configure -a || true
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
