#!/usr/bin/env bash
# Install NeMo Helix (SDK + CLI + services) into its own venv under .cache/helix.
# Helix needs Python 3.13 and ~340 packages, so it never enters the Airflow venv.
# A stamp file naming the pinned version makes a second run a no-op.
set -euo pipefail
HELIX_VERSION="${HELIX_VERSION:-0.8.1}"
HELIX_HOME="${HELIX_HOME:-$(pwd)/.cache/helix}"
UV="${UV:-.cache/uv/bin/uv}"
STAMP="$HELIX_HOME/venv/.installed-nemo-helix-$HELIX_VERSION"
if [[ -f "$STAMP" ]]; then
  echo "helix $HELIX_VERSION already installed: $HELIX_HOME/venv"
  exit 0
fi
PY313="${HELIX_PYTHON:-$(pyenv root 2>/dev/null)/versions/3.13.0/bin/python}"
if [[ ! -x "$PY313" ]]; then
  echo "Helix needs Python 3.13 (3.12.1 breaks its customization SDK); set HELIX_PYTHON" >&2
  exit 1
fi
rm -rf "$HELIX_HOME/venv"
mkdir -p "$HELIX_HOME"
start=$(date +%s)
"$UV" venv -q -p "$PY313" "$HELIX_HOME/venv"
"$UV" pip install -q -p "$HELIX_HOME/venv/bin/python" "nemo-helix[all]==$HELIX_VERSION"
rm -f "$HELIX_HOME"/venv/.installed-nemo-helix-*
touch "$STAMP"
echo "helix $HELIX_VERSION installed in $(( $(date +%s) - start ))s: $HELIX_HOME/venv"
