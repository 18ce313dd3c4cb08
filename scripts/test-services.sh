#!/usr/bin/env bash
# Provisions the system programs the test suite starts itself (by pid, on free loopback ports):
# PostgreSQL 15 and Redis for the Celery-engine test, Debian's Chromium for the browser test.
# Installs what is missing with apt-get when it can (root, or passwordless sudo); otherwise names the
# command to run and fails, so `make test` never silently skips a suite.
set -euo pipefail
declare -A probe=(
  [redis-server]="command -v redis-server"
  [postgresql]="test -x /usr/lib/postgresql/15/bin/initdb"
  [chromium]="test -x /usr/bin/chromium"
)
need=()
for pkg in redis-server postgresql chromium; do
  eval "${probe[$pkg]}" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "missing system packages: ${need[*]} (run: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian's packages may start system-wide servers; the tests start their own on free ports.
for svc in redis-server postgresql; do
  "${sudo[@]}" service "$svc" stop >/dev/null 2>&1 || true
done
