#!/usr/bin/env bash
# Writes the compose secrets into an env file (default .env, created from .env.example when missing): every
# secret variable that is empty gets a fresh random value; values already set are kept, so a second run
# changes nothing. Values are URL- and JSON-safe (letters, digits, - and _): they are pasted into connection
# URLs and JSON by docker-compose.yaml. Usage: scripts/gen-env.sh [ENV_FILE]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/.env}"
[ -f "$out" ] || cp "$root/.env.example" "$out"
chmod 600 "$out"
python3 - "$out" <<'PY'
import base64
import os
import re
import secrets
import sys

path = sys.argv[1]
generators = {
    "ELASTIC_PASSWORD": lambda: secrets.token_urlsafe(24),
    "POSTGRES_PASSWORD": lambda: secrets.token_urlsafe(24),
    "AIRFLOW_ADMIN_PASSWORD": lambda: secrets.token_urlsafe(18),
    "AIRFLOW_FERNET_KEY": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),  # Fernet's key format
    "AIRFLOW_JWT_SECRET": lambda: secrets.token_urlsafe(48),
    "AIRFLOW_API_SECRET_KEY": lambda: secrets.token_urlsafe(48),
}
text = open(path).read()
made = []
for name, new in generators.items():
    line = re.search(rf"^{name}=(.*)$", text, re.M)
    if line and line.group(1).strip():
        continue
    value = new()
    text = re.sub(rf"^{name}=.*$", f"{name}={value}", text, flags=re.M) if line else text + f"\n{name}={value}\n"
    made.append(name)
open(path, "w").write(text)
print(f"{path}: generated {', '.join(made) if made else 'nothing (all secrets already set)'}")
PY
