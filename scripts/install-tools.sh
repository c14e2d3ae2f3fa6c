#!/usr/bin/env bash
# Installs the real checkers the tests run: promtool, amtool, Prometheus and
# Alertmanager (Debian's prometheus and prometheus-alertmanager) and Grafana's
# LogQL grammar (@grafana/lezer-logql, pinned in tests/logql/package-lock.json).
# Does nothing for what is already present.
set -euo pipefail
cd "$(dirname "$0")/.."

logql=tests/logql
if [ ! -f "$logql/node_modules/.package-lock.json" ] || [ "$logql/package-lock.json" -nt "$logql/node_modules/.package-lock.json" ]; then
  if command -v npm >/dev/null 2>&1; then
    npm ci --prefix "$logql" --no-audit --no-fund --loglevel=error
  else
    echo "install-tools: npm is missing; LogQL parsing tests will skip (or fail with REQUIRE_TOOLS=1)" >&2
  fi
fi

packages=()
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
{ command -v amtool >/dev/null 2>&1 && command -v prometheus-alertmanager >/dev/null 2>&1; } \
  || packages+=(prometheus-alertmanager)
[ ${#packages[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
  echo "install-tools: missing ${packages[*]}; install them with apt-get (tests that need them will skip, or fail with REQUIRE_TOOLS=1)" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-tools: no apt-get here; install ${packages[*]} (promtool, amtool) yourself" >&2
  exit 0
fi
echo "install-tools: installing ${packages[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
