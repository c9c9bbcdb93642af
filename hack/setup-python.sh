#!/usr/bin/env bash
# Create .venv and install kubedet with the pinned versions of constraints.txt.
#   hack/setup-python.sh base     operator + dev tools (seconds when cached)
#   hack/setup-python.sh trainer  + torch, mmcv (compiled from its sdist), mmdet, mmengine
# Each layer is skipped when its stamp matches the hash of constraints.txt and pyproject.toml.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
layer=${1:-base}
venv="$root/.venv"
py=${PYTHON:-python3.11}
command -v "$py" >/dev/null || py=python3
want=$(cat constraints.txt pyproject.toml | sha256sum | cut -c1-16)
pip=("$venv/bin/pip" install -q --disable-pip-version-check -c constraints.txt)

step() { echo "[setup-python $(date +%H:%M:%S)] $*"; }

if [[ ! -x "$venv/bin/python" ]]; then
  step "creating $venv with $py"
  "$py" -m venv "$venv"
fi
if [[ "$(cat "$venv/.stamp-base" 2>/dev/null)" != "$want" ]]; then
  t0=$SECONDS
  step "installing kubedet with the dev tools"
  "${pip[@]}" setuptools wheel
  "${pip[@]}" -e ".[dev]"
  echo "$want" > "$venv/.stamp-base"
  step "base layer ready in $((SECONDS - t0))s"
fi
if [[ $layer == trainer && "$(cat "$venv/.stamp-trainer" 2>/dev/null)" != "$want" ]]; then
  t0=$SECONDS
  step "installing torch (large download, cached by pip afterwards)"
  "${pip[@]}" torch numpy
  step "torch ready after $((SECONDS - t0))s; installing mmcv (compiled from its sdist the first time: ~11 min on 2 cores; pip caches the wheel)"
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} "${pip[@]}" --no-build-isolation mmcv
  step "mmcv ready after $((SECONDS - t0))s; installing mmdet, mmengine and the rest"
  "${pip[@]}" -e ".[dev,trainer]"
  echo "$want" > "$venv/.stamp-trainer"
  step "trainer layer ready in $((SECONDS - t0))s"
fi
