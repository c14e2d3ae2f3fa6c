#!/usr/bin/env bash
# Gets the real checkers the tests run, into the project, leaving the machine
# alone:
#   - promtool, amtool, Prometheus and Alertmanager: Debian's prometheus and
#     prometheus-alertmanager packages, downloaded with apt into .tools/,
#     unpacked there (dpkg-deb -x) and their four programs kept in
#     .tools/bin (the rest, web assets and symlinks into /usr/share/javascript
#     that only an installed system has, is removed). Not installed: a package's install
#     scripts would start system services on :9090 and :9093 (on a machine
#     with systemd), the ports `make up` publishes. apt reads its package
#     lists into .tools/apt, not the system's; no root needed.
#   - Grafana's LogQL grammar (@grafana/lezer-logql, pinned in
#     tests/logql/package-lock.json), with npm into tests/logql/node_modules.
# tests/conftest.py's require_tool looks in .tools/ first. Does nothing for
# what is already there; `make clean` removes .tools/.
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

tools="$PWD/.tools"
bin="$tools/bin"
packages=()
[ -x "$bin/promtool" ] && [ -x "$bin/prometheus" ] || packages+=(prometheus)
[ -x "$bin/amtool" ] && [ -x "$bin/prometheus-alertmanager" ] || packages+=(prometheus-alertmanager)
[ ${#packages[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
  echo "install-tools: no apt-get/dpkg-deb here; put promtool, prometheus, amtool and prometheus-alertmanager" \
       "on PATH yourself (tests that need them will skip, or fail with REQUIRE_TOOLS=1)" >&2
  exit 0
fi
echo "install-tools: downloading ${packages[*]} into .tools/ (unpacked, not installed: no service is started)"
mkdir -p "$tools/apt/state/lists/partial" "$tools/apt/cache/archives/partial" "$tools/debs" "$bin"
apt=(
  -o "Dir::State=$tools/apt/state" -o "Dir::Cache=$tools/apt/cache"
  -o "Dir::State::status=/var/lib/dpkg/status" -o "Debug::NoLocking=1"
  -o "APT::Sandbox::User=$(id -un)"
)
apt-get "${apt[@]}" update -qq
rm -f "$tools/debs/"*.deb
(cd "$tools/debs" && apt-get "${apt[@]}" download -qq "${packages[@]}")
unpacked="$tools/unpacked"
rm -rf "$unpacked"
for deb in "$tools/debs/"*.deb; do
  dpkg-deb -x "$deb" "$unpacked"
done
for tool in promtool prometheus amtool prometheus-alertmanager; do
  [ -x "$unpacked/usr/bin/$tool" ] || { echo "install-tools: $tool missing from the downloaded packages" >&2; exit 1; }
  mv -f "$unpacked/usr/bin/$tool" "$bin/$tool"
done
rm -rf "$unpacked"
