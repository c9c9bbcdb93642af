#!/usr/bin/env bash
# Fill the trainer image's wheelhouse from the test environment (.venv, `make venv-trainer`), so the image
# build installs wheels only: mmcv's wheel is the one pip built and cached for .venv (never compiled again
# here), the rest are the wheels of the versions constraints.txt pins, fetched once per pin change.
#   hack/images/wheelhouse.sh WHEELHOUSE_DIR
# Skipped when its stamp matches constraints.txt, pyproject.toml and .venv's Python.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
wh=${1:?wheelhouse dir}
py=.venv/bin/python
[[ -x $py ]] || { echo "no .venv: run make venv-trainer first" >&2; exit 1; }
pytag=$($py -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
key=$( (cat constraints.txt pyproject.toml; echo "$pytag v1") | sha256sum | cut -c1-16)
step() { echo "[images $(date +%H:%M:%S)] $*"; }
if [[ "$(cat "$wh/.stamp" 2>/dev/null)" == "$key" ]]; then
  step "wheelhouse is up to date"
  exit 0
fi
mmcv=$(sed -n 's/^mmcv==\([^ ]*\).*/\1/p' constraints.txt)
t0=$SECONDS
rm -rf "$wh.tmp" && mkdir -p "$wh.tmp"
# pip keeps the wheel it built from mmcv's sdist (make venv-trainer) in its cache: take the newest one.
cached=$(find "${PIP_CACHE_DIR:-$HOME/.cache/pip}" -name "mmcv-$mmcv-$pytag-$pytag-linux_x86_64.whl" -printf '%T@ %p\n' 2>/dev/null \
  | sort -n | tail -1 | cut -d' ' -f2-)
if [[ -n $cached ]]; then
  step "mmcv $mmcv: the wheel built for .venv ($cached)"
  cp "$cached" "$wh.tmp/"
else
  step "mmcv $mmcv: no cached wheel, building it against .venv's torch (~11 min on 2 cores)"
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} $py -m pip wheel -q --no-deps --no-build-isolation -c constraints.txt \
    -w "$wh.tmp" "mmcv==$mmcv"
fi
step "the other wheels of the trainer and the operator (constraints.txt)"
# --no-build-isolation: kubedet itself builds with .venv's setuptools; its own wheel is dropped (the image
# installs it from the sources). No cache: these wheels are kept here, not twice.
$py -m pip wheel -q --no-cache-dir --no-build-isolation -c constraints.txt --find-links "$wh.tmp" \
  -w "$wh.tmp" ".[trainer]" setuptools wheel
rm -f "$wh.tmp"/kubedet-*.whl
echo "$key" > "$wh.tmp/.stamp"
rm -rf "$wh" && mv "$wh.tmp" "$wh"
step "wheelhouse ready in $((SECONDS - t0))s: $(ls "$wh" | wc -l) wheels, $(du -sh "$wh" | cut -f1)"
